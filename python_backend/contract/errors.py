"""The one error type for a bad request field."""


class InputError(ValueError):
    """A request field is invalid; the message starts with the field's name and states the limit.

    Each edge maps it to its protocol: INVALID_ARG in Triton, 400 in the OpenAI gateway, a
    journal entry in the batch job."""


class UnknownAdapterError(InputError):
    """A request names a LoRA adapter that is not there; the message names it.

    Each edge maps it to "not found": NOT_FOUND in Triton (HTTP 404), 404 in the OpenAI gateway."""
