"""Authentication endpoints for programs."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import DomainError
from partners.services import api_token_issue, api_token_revoke


class BadCredentials(DomainError):
    """Unknown user, wrong password or inactive account."""

    code = "bad_credentials"
    status_code = 401


class TokenObtainApi(APIView):
    """``POST /api/auth/token/`` — exchange a username and password for a bearer token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="TokenObtain")
    class Input(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)

    @extend_schema(request=Input, responses=inline_serializer(
        "TokenOutput", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}))
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, **data.validated_data)
        if user is None or not user.is_active:
            raise BadCredentials()
        raw, token = api_token_issue(user=user)
        return Response({"token": raw, "expires_at": token.expires_at}, status=201)


class TokenRevokeApi(APIView):
    """``POST /api/auth/token/revoke/`` — revoke the bearer token used for this call."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        header = request.META.get("HTTP_AUTHORIZATION", "").split()
        if len(header) == 2 and header[0].lower() == "bearer":
            api_token_revoke(raw=header[1])
        return Response(status=204)
