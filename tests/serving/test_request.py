"""Every validation error of the selector request, in both event shapes."""

from __future__ import annotations

import pytest

from services.exceptions import ValidationError
from services.serving.request import MEMBER_ID_MAX, SelectRequest, parse_event


def proxy(**params: object) -> dict[str, object]:
    return {"httpMethod": "GET", "queryStringParameters": params or None}


def test_proxy_event_gives_the_request() -> None:
    assert parse_event(proxy(member_id="1001", area_code="MAIN")) == SelectRequest("1001", "MAIN")


def test_mapping_template_event_gives_the_request() -> None:
    assert parse_event({"member_id": "1001", "area_code": "MAIN"}) == SelectRequest("1001", "MAIN")


def test_repeated_equal_values_are_accepted() -> None:
    event = {
        "queryStringParameters": {"member_id": "7", "area_code": "MAIN"},
        "multiValueQueryStringParameters": {"member_id": ["7", "7"], "area_code": ["MAIN"]},
    }
    assert parse_event(event).member_id == "7"


@pytest.mark.parametrize(
    ("event", "field", "words"),
    [
        ("not an object", "event", "JSON object"),
        (["member_id"], "event", "JSON object"),
        (proxy(), "member_id", "required"),
        ({"queryStringParameters": None}, "member_id", "required"),
        ({"queryStringParameters": "member_id=1"}, "queryStringParameters", "object"),
        (proxy(area_code="MAIN"), "member_id", "required"),
        (proxy(member_id="", area_code="MAIN"), "member_id", "required"),
        (proxy(member_id="1001"), "area_code", "required"),
        (proxy(member_id="1001", area_code=""), "area_code", "required"),
        ({"member_id": {"$gt": ""}, "area_code": "MAIN"}, "member_id", "plain string"),
        ({"member_id": "1", "area_code": {"$ne": None}}, "area_code", "plain string"),
        ({"member_id": ["1", "2"], "area_code": "MAIN"}, "member_id", "plain string"),
        ({"member_id": 1001, "area_code": "MAIN"}, "member_id", "plain string"),
        (proxy(member_id="x" * (MEMBER_ID_MAX + 1), area_code="MAIN"), "member_id", "at most"),
        (proxy(member_id="1", area_code="A" * 33), "area_code", "at most"),
        (proxy(member_id='{"$gt": ""}', area_code="MAIN"), "member_id", "contain only"),
        (proxy(member_id="1001", area_code="MAIN PAGE"), "area_code", "contain only"),
        (proxy(member_id="-1", area_code="MAIN"), "member_id", "start with"),
        (proxy(member_id="1001", area_code="ＭAIN"), "area_code", "contain only"),
        (
            {
                "queryStringParameters": {"member_id": "2", "area_code": "MAIN"},
                "multiValueQueryStringParameters": {"member_id": ["1", "2"]},
            },
            "member_id",
            "more than once",
        ),
        (
            {
                "queryStringParameters": {"member_id": "1", "area_code": "CART"},
                "multiValueQueryStringParameters": {"area_code": ["MAIN", "CART"]},
            },
            "area_code",
            "more than once",
        ),
    ],
)
def test_invalid_event_names_the_parameter(event: object, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(event)
    assert caught.value.field == field
    assert words in caught.value.message
