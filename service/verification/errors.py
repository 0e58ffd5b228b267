"""Errors of the verification domain (rendered as RFC 9457 problem details)."""

from service.errors import Conflict, ServiceError


class RequestAnswered(Conflict):
    code = "request_answered"
    title = "Request already answered"


class RequestExpired(ServiceError):
    status = 410
    code = "request_expired"
    title = "Request expired"


class PresentationTooLarge(ServiceError):
    status = 413
    code = "oversize"
    title = "Presentation too large"


class MalformedPresentation(ServiceError):
    status = 400
    code = "malformed_presentation"
    title = "Malformed presentation"
