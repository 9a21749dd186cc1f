"""Authentication endpoints for programs."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from partners.audit import Action, audit
from partners.auth import client_address, credentials_check
from partners.services import api_token_issue, api_token_revoke


class TokenObtainApi(APIView):
    """``POST /api/auth/token/`` — exchange a username and password (and, for partner agents,
    supervisors and admins, a one-time code ``otp``) for a bearer token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="TokenObtain")
    class Input(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)
        otp = serializers.CharField(max_length=32, required=False)

    @extend_schema(request=Input, responses=inline_serializer(
        "TokenOutput", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}))
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        user, _ = credentials_check(request=request._request, **data.validated_data)
        raw, token = api_token_issue(user=user)
        audit(action=Action.TOKEN_ISSUED, actor=user, address=client_address(request._request),
              object_type="token", object_id=token.pk)
        return Response({"token": raw, "expires_at": token.expires_at}, status=201)


class TokenRevokeApi(APIView):
    """``POST /api/auth/token/revoke/`` — revoke the bearer token used for this call."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        header = request.META.get("HTTP_AUTHORIZATION", "").split()
        if len(header) == 2 and header[0].lower() == "bearer" and api_token_revoke(raw=header[1]):
            audit(action=Action.TOKEN_REVOKED, actor=request.user, address=client_address(request._request))
        return Response(status=204)
