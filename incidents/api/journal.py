"""``/api/incidents/<id>/journal/``: the main courante, where any member who sees the incident
adds a note."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.api.common import member_required
from incidents.events import JournalEntryData, journal_entry_data
from incidents.models import JournalEntry
from incidents.selectors.incidents import incidents_visible_to
from incidents.selectors.journal import journal_visible_to
from incidents.services.common import MAX_TEXT
from incidents.services.journal import journal_append
from partners.idempotency import idempotent
from partners.selectors import member_of


def journal_answer(entry: JournalEntry) -> dict:
    """A line of the main courante over REST: the shape ``journal.appended`` carries."""
    return journal_entry_data(entry).model_dump(mode="json")


class JournalAppendApi(APIView):
    """``POST /api/incidents/<id>/journal/`` — any member who sees the incident may add a note."""

    @extend_schema_serializer(component_name="JournalAppend")
    class Input(serializers.Serializer):
        text = serializers.CharField(max_length=MAX_TEXT)
        corrects = serializers.IntegerField(required=False)

    @extend_schema(request=Input, responses={201: JournalEntryData})
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        incident = get_object_or_404(incidents_visible_to(member_of(request.user)), pk=pk)
        member = member_required(request)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        corrects = None
        if "corrects" in data.validated_data:
            # Only a line the author may see: a hidden one (a camera line for the Croix-Rouge)
            # is answered like one that does not exist.
            corrects = get_object_or_404(journal_visible_to(incident, member),
                                         pk=data.validated_data["corrects"])
        entry = journal_append(incident=incident, member=member, text=data.validated_data["text"],
                               corrects=corrects)
        return Response(journal_answer(entry), status=201)
