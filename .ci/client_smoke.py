#!/usr/bin/env python3
"""End-to-end smoke test of the Python client generated from openapi/openapi.json.

Run by .ci/run against a live Depot server. It drives the API only through the
generated client (module `depot_client`, one module per operationId under
`depot_client.api.<tag>`), checks the typed fields of every response, and then
checks `Idempotency-Key` handling with plain httpx (a dependency of the client).

Environment:
  DEPOT_URL              base URL of the server, e.g. http://127.0.0.1:8080
  DEPOT_ADMIN_KEY        an admin API key (dpk_...)
  DEPOT_CLIENT_PACKAGE   generated package name (default: depot_client)

Exit status: 0 when every check passed, 1 on the first mismatch, 2 on bad usage.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import json
import os
import secrets
import string
import sys
import typing
import uuid
from typing import Any

import httpx

PACKAGE = os.environ.get("DEPOT_CLIENT_PACKAGE", "depot_client")
TIMEOUT = httpx.Timeout(30.0)
MAX_PAGES = 500


class CheckFailed(Exception):
    """A response did not match the contract."""


def log(message: str) -> None:
    print(message, flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def enum_value(value: Any) -> Any:
    """Generated enums are `str` Enum classes; compare their wire value."""
    return getattr(value, "value", value)


def is_set(value: Any) -> bool:
    """False for None and for the generator's UNSET sentinel."""
    return value is not None and type(value).__name__ != "Unset"


def random_suffix(length: int = 8) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --------------------------------------------------------------------------------------------------
# Access to the generated client, tolerant of the names the generator picks for models.


def operation(tag: str, operation_id: str):
    name = f"{PACKAGE}.api.{tag}.{operation_id}"
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise CheckFailed(
            f"generated client has no module {name} (tag {tag!r}, operationId {operation_id!r}): {exc}"
        ) from exc


def body_model(module) -> type:
    """The request-body model class of an operation, read from its `sync_detailed` signature."""
    hints = typing.get_type_hints(module.sync_detailed)
    annotation = hints.get("body")
    check(annotation is not None, f"{module.__name__}.sync_detailed takes no `body`")
    candidates = typing.get_args(annotation) or (annotation,)
    for candidate in candidates:
        if inspect.isclass(candidate) and hasattr(candidate, "from_dict"):
            return candidate
    raise CheckFailed(f"{module.__name__}: no model class in body annotation {annotation!r}")


def call(client, tag: str, operation_id: str, expected_status: int, *, body: dict | None = None, **kwargs):
    """Call one generated operation, check the status, and return the parsed (typed) response."""
    module = operation(tag, operation_id)
    accepted = inspect.signature(module.sync_detailed).parameters
    for name in kwargs:
        check(name in accepted, f"{operation_id}: the generated function has no parameter {name!r}")
    if body is not None:
        kwargs["body"] = body_model(module).from_dict(body)
    response = module.sync_detailed(client=client, **kwargs)
    status = int(response.status_code)
    if status != expected_status:
        content = response.content.decode("utf-8", "replace")[:2000]
        raise CheckFailed(f"{operation_id}: expected HTTP {expected_status}, got {status}: {content}")
    parsed = response.parsed
    check(parsed is not None, f"{operation_id}: HTTP {status} but the client parsed no typed body")
    check(
        not type(parsed).__name__.lower().startswith("problem"),
        f"{operation_id}: HTTP {status} parsed as an error type {type(parsed).__name__}",
    )
    return parsed


def check_resource(obj: Any, what: str, *, active: bool = True) -> None:
    """Fields every Depot resource carries, with their types."""
    check(isinstance(obj.id, uuid.UUID), f"{what}: id is {type(obj.id).__name__}, expected UUID")
    check(obj.active is active, f"{what}: active is {obj.active!r}, expected {active!r}")
    for field in ("created_at", "updated_at"):
        value = getattr(obj, field)
        check(isinstance(value, datetime.datetime), f"{what}: {field} is {type(value).__name__}, expected datetime")
        check(value.tzinfo is not None, f"{what}: {field} {value.isoformat()} carries no UTC offset")
    check(obj.updated_at >= obj.created_at, f"{what}: updated_at is before created_at")


def check_equal(what: str, field: str, actual: Any, expected: Any) -> None:
    check(actual == expected, f"{what}: {field} is {actual!r}, expected {expected!r}")


# --------------------------------------------------------------------------------------------------
# The scenario.


def scenario_client(base_url: str, token: str) -> None:
    client_module = importlib.import_module(f"{PACKAGE}.client")
    client = client_module.AuthenticatedClient(
        base_url=base_url,
        token=token,
        timeout=TIMEOUT,
        raise_on_unexpected_status=False,
    )
    suffix = random_suffix()

    # 1. A premium product series with a loaner deposit.
    series_code = f"CI-S-{suffix}"
    series = call(
        client,
        "series",
        "create_series",
        201,
        body={
            "code": series_code,
            "name": f"CI premium series {suffix}",
            "premium": True,
            "loaner_deposit": {"amount": "500.00", "currency": "CNY"},
        },
    )
    check_resource(series, "create_series")
    check_equal("create_series", "code", series.code, series_code)
    check_equal("create_series", "premium", series.premium, True)
    check(is_set(series.loaner_deposit), "create_series: loaner_deposit missing")
    check_equal("create_series", "loaner_deposit.amount", series.loaner_deposit.amount, "500.00")
    check_equal("create_series", "loaner_deposit.currency", enum_value(series.loaner_deposit.currency), "CNY")
    log(f"ok   create_series  -> {series.id} ({series.code}, premium, deposit 500.00 CNY)")

    fetched_series = call(client, "series", "get_series", 200, series_id=series.id)
    check_equal("get_series", "id", fetched_series.id, series.id)
    check_equal("get_series", "loaner_deposit.amount", fetched_series.loaner_deposit.amount, "500.00")
    log(f"ok   get_series     -> {fetched_series.id}")

    # 2. A model in that series.
    model_code = f"CI-M-{suffix}"
    model = call(
        client,
        "models",
        "create_model",
        201,
        body={"code": model_code, "name": f"CI model {suffix}", "series_id": str(series.id)},
    )
    check_resource(model, "create_model")
    check_equal("create_model", "code", model.code, model_code)
    check_equal("create_model", "series_id", model.series_id, series.id)
    log(f"ok   create_model   -> {model.id} ({model.code} in {series.code})")

    # 3. A service center (explicit time zone) and a warehouse (default time zone).
    city = "Shenzhen"
    store_code = f"CI-{suffix}"
    store = call(
        client,
        "stores",
        "create_store",
        201,
        body={
            "code": store_code,
            "name": f"CI service center {suffix}",
            "city": city,
            "kind": "service_center",
            "time_zone": "Asia/Shanghai",
        },
    )
    check_resource(store, "create_store")
    check_equal("create_store", "code", store.code, store_code)
    check_equal("create_store", "city", store.city, city)
    check_equal("create_store", "kind", enum_value(store.kind), "service_center")
    check_equal("create_store", "time_zone", store.time_zone, "Asia/Shanghai")
    log(f"ok   create_store   -> {store.id} ({store.code}, service_center)")

    warehouse = call(
        client,
        "stores",
        "create_store",
        201,
        body={"code": f"CI-W-{suffix}", "name": f"CI warehouse {suffix}", "city": city, "kind": "warehouse"},
    )
    check_resource(warehouse, "create_store (warehouse)")
    check_equal("create_store (warehouse)", "kind", enum_value(warehouse.kind), "warehouse")
    check_equal("create_store (warehouse)", "time_zone", warehouse.time_zone, "Asia/Shanghai")
    log(f"ok   create_store   -> {warehouse.id} ({warehouse.code}, warehouse, default time zone)")

    # 4. Read it back.
    fetched = call(client, "stores", "get_store", 200, store_id=store.id)
    check_resource(fetched, "get_store")
    for field in ("id", "code", "name", "city", "time_zone", "created_at"):
        check_equal("get_store", field, getattr(fetched, field), getattr(store, field))
    check_equal("get_store", "kind", enum_value(fetched.kind), "service_center")
    log(f"ok   get_store      -> {fetched.id}")

    # 5. Find it in the list, walking the cursor pages.
    found = None
    seen: set[uuid.UUID] = set()
    cursor = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            kwargs["cursor"] = cursor
        page = call(client, "stores", "list_stores", 200, **kwargs)
        pages += 1
        check(isinstance(page.items, list), "list_stores: items is not a list")
        check(len(page.items) <= 2, f"list_stores: {len(page.items)} items for limit=2")
        for item in page.items:
            check(item.id not in seen, f"list_stores: {item.id} appears on two pages")
            seen.add(item.id)
            if item.id == store.id:
                found = item
        cursor = page.next_cursor if is_set(page.next_cursor) else None
        if cursor is None:
            break
        check(pages < MAX_PAGES, f"list_stores: still paging after {MAX_PAGES} pages")
    check(found is not None, f"list_stores: store {store.id} not found in {len(seen)} stores over {pages} pages")
    check(warehouse.id in seen, f"list_stores: warehouse {warehouse.id} not found")
    check_equal("list_stores", "code", found.code, store_code)
    log(f"ok   list_stores    -> found {store.code} among {len(seen)} stores in {pages} pages")

    # 6. Rename it.
    new_name = f"CI service center {suffix} renamed"
    updated = call(client, "stores", "update_store", 200, store_id=store.id, body={"name": new_name})
    check_resource(updated, "update_store")
    check_equal("update_store", "id", updated.id, store.id)
    check_equal("update_store", "name", updated.name, new_name)
    check_equal("update_store", "code", updated.code, store_code)
    check_equal("update_store", "city", updated.city, city)
    check(updated.updated_at >= store.updated_at, "update_store: updated_at went backwards")
    log(f"ok   update_store   -> name {updated.name!r}")

    # 7. Deactivate it; it stays readable.
    deactivated = call(client, "stores", "deactivate_store", 200, store_id=store.id)
    check_resource(deactivated, "deactivate_store", active=False)
    check_equal("deactivate_store", "id", deactivated.id, store.id)
    check_equal("deactivate_store", "name", deactivated.name, new_name)
    again = call(client, "stores", "get_store", 200, store_id=store.id)
    check_resource(again, "get_store after deactivate", active=False)
    log(f"ok   deactivate_store -> {deactivated.id} active=false")

    # 8. A store that does not exist is a 404 problem, parsed by the client.
    module = operation("stores", "get_store")
    missing = module.sync_detailed(client=client, store_id=uuid.uuid4())
    check_equal("get_store (unknown id)", "status", int(missing.status_code), 404)
    log("ok   get_store      -> 404 for an unknown id")


def luhn_imei(body14: str) -> str:
    """A 15-digit IMEI with its Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(body14)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body14 + str((10 - total % 10) % 10)


def scenario_devices(base_url: str, token: str) -> None:
    """Issue 13's operations through the generated client: a ticket registers its phone and customer, the device's
    history, the customer by another spelling of the phone, the search by IMEI, the dry-run check, a series'
    policy, and the customer's remedy choice."""
    client_module = importlib.import_module(f"{PACKAGE}.client")
    client = client_module.AuthenticatedClient(
        base_url=base_url, token=token, timeout=TIMEOUT, raise_on_unexpected_status=False
    )
    suffix = random_suffix()
    series = call(client, "series", "create_series", 201,
                  body={"code": f"CI-D-{suffix}", "name": "CI devices", "premium": False})
    model = call(client, "models", "create_model", 201,
                 body={"code": f"CI-DM-{suffix}", "name": "CI device model", "series_id": str(series.id)})
    store = call(client, "stores", "create_store", 201,
                 body={"code": f"CI-D-{suffix}", "name": "CI desk", "city": "Shenzhen", "kind": "service_center"})
    imei = luhn_imei("35" + "".join(secrets.choice(string.digits) for _ in range(12)))
    phone_digits = "139" + "".join(secrets.choice(string.digits) for _ in range(8))
    today = datetime.date.today() - datetime.timedelta(days=1)
    ticket = call(client, "tickets", "open_ticket", 201, body={
        "store_id": str(store.id),
        "customer": {"name": "CI Customer", "phone": f"+86 {phone_digits}", "contact_consent": True},
        "device_imei": imei,
        "model_id": str(model.id),
        "purchase_date": today.isoformat(),
        "invoice": {"price_paid": {"amount": "3999.00", "currency": "CNY"}, "seller": "CI seller"},
        "channel": "walk_in",
        "reported_fault": "no signal",
    })
    check(is_set(ticket.device_id) and is_set(ticket.customer_id), "open_ticket: no device or customer linked")
    check_equal("open_ticket", "warranty.rule", enum_value(ticket.warranty.rule), "return_window")
    log(f"ok   open_ticket    -> {ticket.number}, device {ticket.device_id}, customer {ticket.customer_id}")

    device = call(client, "devices", "get_device", 200, imei=imei)
    check_equal("get_device", "device.id", device.device.id, ticket.device_id)
    check_equal("get_device", "tickets", len(device.tickets), 1)
    log(f"ok   get_device     -> {imei}, {len(device.tickets)} ticket")

    customer = call(client, "customers", "find_customer", 200, phone=phone_digits)
    check_equal("find_customer", "customer.id", customer.customer.id, ticket.customer_id)
    log(f"ok   find_customer  -> {phone_digits} is the customer of {ticket.number}")

    found = call(client, "tickets", "list_tickets", 200, imei=imei)
    check_equal("list_tickets?imei", "ids", [t.id for t in found.items], [ticket.id])
    log(f"ok   list_tickets   -> imei={imei} finds {ticket.number}")

    decision = call(client, "warranty", "check_warranty", 200, imei=imei, store_id=store.id)
    check_equal("check_warranty", "rule", enum_value(decision.rule), enum_value(ticket.warranty.rule))
    log(f"ok   check_warranty -> {enum_value(decision.rule)}, as the ticket's")

    policy = call(client, "warranty", "create_warranty_policy", 201, body={
        "series_id": str(series.id), "effective_from": "2030-01-01", "return_days": 14, "exchange_days": 30,
        "handset_months": 24, "battery_months": 6, "charger_months": 12, "wired_earphones_months": 3,
        "extended_months": 12, "screen_plan_months": 12, "daily_depreciation": "0.30",
    })
    log(f"ok   create_warranty_policy -> {policy.id} from 2030-01-01")

    chosen = call(client, "tickets", "choose_remedy", 200, ticket_id=ticket.id, body={"remedy": "free_repair"})
    check(is_set(chosen.remedy), "choose_remedy: no remedy recorded")
    check_equal("choose_remedy", "remedy", enum_value(chosen.remedy.remedy), "free_repair")
    log(f"ok   choose_remedy  -> free_repair on {ticket.number}")


def tiny_png() -> bytes:
    """A 2x2 RGB PNG, made here (no image library needed)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes([200, 30, 30]) * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def scenario_files(base_url: str, token: str) -> None:
    """Issue 15's uploads through the generated client: a photo as multipart/form-data, a PDF as a raw body,
    the list, the download, and the thumbnail."""
    import io

    types_module = importlib.import_module(f"{PACKAGE}.types")
    upload_model = importlib.import_module(f"{PACKAGE}.models.ticket_file_upload").TicketFileUpload
    stage_enum = importlib.import_module(f"{PACKAGE}.models.ticket_file_stage").TicketFileStage
    client_module = importlib.import_module(f"{PACKAGE}.client")
    client = client_module.AuthenticatedClient(
        base_url=base_url, token=token, timeout=TIMEOUT, raise_on_unexpected_status=False
    )
    suffix = random_suffix()
    series = call(client, "series", "create_series", 201,
                  body={"code": f"CI-F-{suffix}", "name": "CI files", "premium": False})
    model = call(client, "models", "create_model", 201,
                 body={"code": f"CI-FM-{suffix}", "name": "CI files model", "series_id": str(series.id)})
    store = call(client, "stores", "create_store", 201,
                 body={"code": f"CI-F-{suffix}", "name": "CI files desk", "city": "Shenzhen",
                       "kind": "service_center"})
    ticket = call(client, "tickets", "open_ticket", 201, body={
        "store_id": str(store.id),
        "customer": {"name": "CI Files", "phone": "+86 13900001111"},
        "device_imei": luhn_imei("35" + "".join(secrets.choice(string.digits) for _ in range(12))),
        "model_id": str(model.id),
        "purchase_date": (datetime.date.today() - datetime.timedelta(days=30)).isoformat(),
        "channel": "walk_in",
        "reported_fault": "cracked back",
    })

    png = tiny_png()
    upload = operation("files", "upload_ticket_file")
    form = upload_model(
        file=types_module.File(payload=io.BytesIO(png), file_name="back.png", mime_type="image/png"),
        stage=stage_enum.INTAKE,
    )
    response = upload.sync_detailed(client=client, ticket_id=ticket.id, body=form)
    check(int(response.status_code) == 201,
          f"upload_ticket_file (multipart): HTTP {int(response.status_code)}: {response.content[:500]!r}")
    photo = response.parsed
    check_equal("upload_ticket_file", "content_type", enum_value(photo.content_type), "image/png")
    check_equal("upload_ticket_file", "has_thumbnail", photo.has_thumbnail, True)
    log(f"ok   upload_ticket_file (multipart) -> {photo.id}, {photo.size_bytes} bytes, sha256 {photo.sha256[:12]}...")

    pdf = b"%PDF-1.4\n% CI smoke\n%%EOF\n"
    response = upload.sync_detailed(
        client=client, ticket_id=ticket.id, body=types_module.File(payload=io.BytesIO(pdf)), stage=stage_enum.DIAGNOSIS
    )
    check(int(response.status_code) == 201,
          f"upload_ticket_file (raw): HTTP {int(response.status_code)}: {response.content[:500]!r}")
    check_equal("upload_ticket_file (raw)", "content_type", enum_value(response.parsed.content_type), "application/pdf")
    log(f"ok   upload_ticket_file (raw body) -> {response.parsed.id}")

    listed = call(client, "files", "list_ticket_files", 200, ticket_id=ticket.id)
    check_equal("list_ticket_files", "ids", [f.id for f in listed.items], [photo.id, response.parsed.id])
    downloaded = operation("files", "download_file").sync_detailed(client=client, file_id=photo.id)
    check(int(downloaded.status_code) == 200, f"download_file: HTTP {int(downloaded.status_code)}")
    check_equal("download_file", "content", downloaded.content, png)
    thumb = operation("files", "download_file_thumbnail").sync_detailed(client=client, file_id=photo.id)
    check(int(thumb.status_code) == 200 and thumb.content.startswith(b"\x89PNG"), "download_file_thumbnail: no PNG")
    log(f"ok   list_ticket_files / download_file / download_file_thumbnail -> {len(listed.items)} files")


def scenario_idempotency(base_url: str, token: str) -> None:
    suffix = random_suffix()
    url = "/api/v1/series"
    key = f"ci-{uuid.uuid4()}"
    body = {"code": f"CI-I-{suffix}", "name": f"CI idempotent series {suffix}", "premium": False}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}

    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as http:
        first = http.post(url, json=body, headers=headers)
        check(first.status_code == 201, f"idempotency: first create gave {first.status_code}: {first.text[:2000]}")
        replay = http.post(url, json=body, headers=headers)
        check(
            replay.status_code == first.status_code,
            f"idempotency: replay gave {replay.status_code}, first gave {first.status_code}: {replay.text[:2000]}",
        )
        first_id, replay_id = first.json().get("id"), replay.json().get("id")
        check(first_id is not None and first_id == replay_id, f"idempotency: ids differ: {first_id} vs {replay_id}")
        log(f"ok   idempotent replay -> same id {first_id}")

        other = dict(body, name=f"{body['name']} changed")
        conflict = http.post(url, json=other, headers=headers)
        check(
            conflict.status_code == 409,
            f"idempotency: same key, other body gave {conflict.status_code}: {conflict.text[:2000]}",
        )
        content_type = conflict.headers.get("content-type", "")
        check(
            content_type.split(";")[0].strip().lower() == "application/problem+json",
            f"idempotency: 409 content-type is {content_type!r}, expected application/problem+json",
        )
        try:
            problem = conflict.json()
        except json.JSONDecodeError as exc:
            raise CheckFailed(f"idempotency: 409 body is not JSON: {conflict.text[:2000]}") from exc
        check(isinstance(problem, dict), "idempotency: 409 body is not a JSON object")
        check(isinstance(problem.get("code"), str) and problem["code"], f"idempotency: 409 body has no code: {problem}")
        if "status" in problem:
            check_equal("idempotency 409", "status", problem["status"], 409)
        log(f"ok   idempotent conflict -> 409 problem code={problem['code']!r}")

        # Without a key the API answers 401 as a problem document, and never leaks what exists.
        anonymous = http.get("/api/v1/stores")
        check(anonymous.status_code == 401, f"no key: GET /api/v1/stores gave {anonymous.status_code}")
        anonymous_type = anonymous.headers.get("content-type", "").split(";")[0].strip().lower()
        check(anonymous_type == "application/problem+json", f"no key: 401 content-type is {anonymous_type!r}")
        log("ok   no key          -> 401 problem")


def main() -> int:
    base_url = os.environ.get("DEPOT_URL", "").rstrip("/")
    token = os.environ.get("DEPOT_ADMIN_KEY", "")
    if not base_url or not token:
        print("client_smoke: set DEPOT_URL and DEPOT_ADMIN_KEY", file=sys.stderr)
        return 2
    log(f"client_smoke: {PACKAGE} against {base_url}")
    try:
        scenario_client(base_url, token)
        scenario_idempotency(base_url, token)
        scenario_devices(base_url, token)
        scenario_files(base_url, token)
    except CheckFailed as exc:
        print(f"FAIL {exc}", file=sys.stderr, flush=True)
        return 1
    except httpx.HTTPError as exc:
        print(f"FAIL transport error: {exc!r}", file=sys.stderr, flush=True)
        return 1
    log("client_smoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
