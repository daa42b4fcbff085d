from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "opsdesk.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge base"

    def ready(self) -> None:
        from opsdesk.knowledge.models import Article
        from opsdesk.knowledge.panels import related_knowledge
        from opsdesk.servicedesk.choices import SubjectType
        from opsdesk.servicedesk.panels import register_panel
        from opsdesk.servicedesk.timeline import register_subject

        register_subject(Article, SubjectType.ARTICLE)
        register_panel(related_knowledge)
