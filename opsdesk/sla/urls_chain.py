"""Pages: service levels (chain): /sla/chain/ and one cell's detail."""

from django.urls import path

from opsdesk.sla.views_chain import chain_detail, chain_matrix

urlpatterns = [
    path("", chain_matrix, name="sla-chain"),
    path("<str:service>/p<int:priority>/", chain_detail, name="sla-chain-detail"),
]
