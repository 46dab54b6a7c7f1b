"""Seam's own Python SDK (`seam` from PyPI, pinned) as the client of a running gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from seam import Seam
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError, SeamHttpUnauthorizedError

from tests.e2e.gateway_support import GatewayProcess, eventually, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    directory = tmp_path_factory.mktemp("sdk")
    process = GatewayProcess(write_config(Path(directory))).start()
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def seam(gateway: GatewayProcess) -> Iterator[Seam]:
    client = Seam(api_key=gateway.api_key, endpoint=gateway.url)
    yield client
    client.client.close()


@pytest.fixture(scope="module")
def devices(seam: Seam) -> dict[str, str]:
    return {d.display_name: d.device_id for d in seam.devices.list()}


def test_create_get_list_and_reach_the_lock(seam: Seam, devices: dict[str, str]) -> None:
    front = devices["Front door"]
    code = seam.access_codes.create(device_id=front, name="Alice Wonderland", code="4821")
    assert code.code == "4821"
    assert code.status in ("setting", "set")
    assert code.type == "ongoing"
    by_id = seam.access_codes.get(access_code_id=code.access_code_id)
    assert by_id.name == "Alice Wonderland"
    by_code = seam.access_codes.get(device_id=front, code="4821")
    assert by_code.access_code_id == code.access_code_id
    listed = seam.access_codes.list(device_id=front)
    assert code.access_code_id in {c.access_code_id for c in listed}
    on_lock = eventually(
        lambda: (
            (c := seam.access_codes.get(access_code_id=code.access_code_id)).status == "set" and c
        ),
        timeout=30,
    )
    assert on_lock.status == "set"


def test_update_name_code_and_switch_to_time_bound(seam: Seam, devices: dict[str, str]) -> None:
    back = devices["Back door"]
    code = seam.access_codes.create(device_id=back, name="Ben", code="345678")
    seam.access_codes.update(access_code_id=code.access_code_id, name="Benjamin", code="356789")
    updated = seam.access_codes.get(access_code_id=code.access_code_id)
    assert updated.name == "Benjamin"
    assert updated.code == "356789"
    starts = datetime.now(UTC) + timedelta(days=1)
    ends = starts + timedelta(days=3)
    seam.access_codes.update(
        access_code_id=code.access_code_id,
        starts_at=starts.isoformat(),
        ends_at=ends.isoformat(),
    )
    bound = seam.access_codes.get(access_code_id=code.access_code_id)
    assert bound.type == "time_bound"
    assert bound.starts_at is not None
    assert bound.ends_at is not None


def test_create_multiple_shares_one_code(seam: Seam, devices: dict[str, str]) -> None:
    ids = [devices["Front door"], devices["Back door"]]
    codes = seam.access_codes.create_multiple(device_ids=ids, name="Guest")
    assert sorted(c.device_id for c in codes) == sorted(ids)
    assert len({c.code for c in codes}) == 1
    keys = {c.common_code_key for c in codes}
    assert len(keys) == 1
    key = keys.pop()
    assert key
    seam.access_codes.update_multiple(common_code_key=key, name="Guest of honour")
    for c in codes:
        assert seam.access_codes.get(access_code_id=c.access_code_id).name == "Guest of honour"


def test_generate_code(seam: Seam, devices: dict[str, str]) -> None:
    generated = seam.access_codes.generate_code(device_id=devices["Back door"])
    assert generated.code is not None
    assert generated.code.isdigit()
    assert "0" not in generated.code  # the Nuki profile's no_zeros rule


def test_delete(seam: Seam, devices: dict[str, str]) -> None:
    code = seam.access_codes.create(device_id=devices["Front door"], code="7391")
    seam.access_codes.delete(access_code_id=code.access_code_id)

    def gone() -> bool:
        try:
            seam.access_codes.get(access_code_id=code.access_code_id)
        except SeamHttpApiError as exc:
            return exc.status_code == 404
        return False

    eventually(gone, timeout=30)


def test_error_classes(seam: Seam, gateway: GatewayProcess, devices: dict[str, str]) -> None:
    with pytest.raises(SeamHttpInvalidInputError) as invalid:
        seam.access_codes.create(device_id=devices["Front door"], code="12ab")
    assert invalid.value.status_code == 400
    assert invalid.value.get_validation_error_messages("code")
    with pytest.raises(SeamHttpApiError) as missing:
        seam.access_codes.get(access_code_id="00000000-0000-4000-8000-000000000000")
    assert missing.value.status_code == 404
    assert missing.value.code == "access_code_not_found"
    assert missing.value.request_id
    stranger = Seam(api_key="seam_not_a_real_key_0000", endpoint=gateway.url)
    try:
        with pytest.raises(SeamHttpUnauthorizedError):
            stranger.access_codes.list(device_id=devices["Front door"])
    finally:
        stranger.client.close()
    assert "seam_not_a_real_key_0000" not in gateway.log()
