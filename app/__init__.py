"""省事 (shengshi): the backend of a government-services mini-program."""

__version__ = "0.1.0"


def create_app(*args, **kwargs):  # type: ignore[no-untyped-def]
    """``sanic app:create_app --factory`` entry point (imports lazily so the CLI starts fast)."""
    from app.factory import create_app as factory

    return factory(*args, **kwargs)
