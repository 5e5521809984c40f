"""The error vocabulary of Trent.

Trent's contract is the AWS KMS API, so its errors carry the AWS error codes as their class names and
AWS's wording as their messages. These are plain exceptions: nothing here knows about HTTP. The edge
(`trent.edge.errors`) decides the status code and renders the wire body.
"""

from __future__ import annotations

from typing import ClassVar


class KMSError(Exception):
    """A modeled AWS error. `code` is the AWS error code; `message` may be None (AWS omits it)."""

    code: ClassVar[str] = "KMSInternalException"
    #: Server faults (retryable by clients) are 5xx on the wire; everything else is a client error.
    fault: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.code)
        self.message = message

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = cls.__name__


# --- protocol and authentication -------------------------------------------------------------------
class UnknownOperationException(KMSError):
    pass


class SerializationException(KMSError):
    pass


class ValidationException(KMSError):
    pass


class MissingAuthenticationTokenException(KMSError):
    pass


class IncompleteSignatureException(KMSError):
    pass


class InvalidSignatureException(KMSError):
    pass


class UnrecognizedClientException(KMSError):
    pass


class ExpiredTokenException(KMSError):
    pass


class AccessDeniedException(KMSError):
    pass


class ThrottlingException(KMSError):
    pass


class RequestEntityTooLargeException(KMSError):
    pass


class RequestTimeoutException(KMSError):
    """The request did not arrive in time (HTTP 408)."""


# --- KMS modeled errors ----------------------------------------------------------------------------
class NotFoundException(KMSError):
    pass


class AlreadyExistsException(KMSError):
    pass


class InvalidArnException(KMSError):
    pass


class InvalidAliasNameException(KMSError):
    pass


class InvalidMarkerException(KMSError):
    pass


class DisabledException(KMSError):
    pass


class KMSInvalidStateException(KMSError):
    pass


class LimitExceededException(KMSError):
    pass


class TagException(KMSError):
    pass


class UnsupportedOperationException(KMSError):
    pass


class MalformedPolicyDocumentException(KMSError):
    pass


class InvalidKeyUsageException(KMSError):
    pass


class InvalidCiphertextException(KMSError):
    pass


class IncorrectKeyException(KMSError):
    pass


class KMSInvalidSignatureException(KMSError):
    pass


class KMSInvalidMacException(KMSError):
    pass


class InvalidGrantTokenException(KMSError):
    pass


class InvalidGrantIdException(KMSError):
    pass


class IncorrectKeyMaterialException(KMSError):
    pass


class InvalidImportTokenException(KMSError):
    pass


class ExpiredImportTokenException(KMSError):
    pass


class DryRunOperationException(KMSError):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "The request would have succeeded, but the DryRun option is set.")


class KMSInternalException(KMSError):
    fault = True


class DependencyTimeoutException(KMSError):
    fault = True


class KeyUnavailableException(KMSError):
    fault = True


# --- STS ---------------------------------------------------------------------------------------------
class MalformedPolicyDocument(KMSError):
    code = "MalformedPolicyDocument"


class InvalidParameterValue(KMSError):
    pass


class InvalidAction(KMSError):
    pass


class CustomKeyStoreNotFoundException(KMSError):
    pass


# --- IAM (the Query protocol's own codes) ----------------------------------------------------------------------------
class NoSuchEntity(KMSError):
    pass


class EntityAlreadyExists(KMSError):
    pass


class DeleteConflict(KMSError):
    pass


class LimitExceeded(KMSError):
    pass


def check_storable(value: str, member: str) -> str:
    """Free text that Trent stores (descriptions, tag keys and values): the NUL character is refused, with a
    ValidationException in AWS's form — PostgreSQL cannot store it, and both stores must answer alike
    (docs/decisions.md D29)."""
    if "\x00" in value:
        raise ValidationException(
            f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
            "Member must not contain the character U+0000"
        )
    return value
