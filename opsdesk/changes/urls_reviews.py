"""Pages under /changes/reviews/: open reviews, change metrics, and the posts of the review
form and of the change-induced incident panel and section."""

from django.urls import path

from opsdesk.changes import views_reviews as v

urlpatterns = [
    path("", v.review_list, name="changes-reviews"),
    path("metrics/", v.metrics_page, name="changes-metrics"),
    path("<int:change_id>/start/", v.review_start, name="changes-review-start"),
    path("<int:change_id>/save/", v.review_save, name="changes-review-save"),
    path("<int:change_id>/link-incident/", v.induced_link, name="changes-induced-link"),
    path("induced/<int:link_id>/confirm/", v.induced_confirm, name="changes-induced-confirm"),
    path("induced/<int:link_id>/dismiss/", v.induced_dismiss, name="changes-induced-dismiss"),
]
