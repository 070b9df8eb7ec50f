"""The consumer web pages the gateway serves itself (issue #8): the verification page and its assets."""

from gateway.web.page import (
    ASSET_CACHE_CONTROL,
    PAGE_HEADERS,
    STATIC_DIR,
    VERIFY_PAGE,
    VERSIONED_CACHE_CONTROL,
    VerifyPage,
    verify_page,
)

__all__ = [
    "ASSET_CACHE_CONTROL",
    "PAGE_HEADERS",
    "STATIC_DIR",
    "VERIFY_PAGE",
    "VERSIONED_CACHE_CONTROL",
    "VerifyPage",
    "verify_page",
]
