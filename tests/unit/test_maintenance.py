"""The deletion sweeper and automatic rotation, on a real SQLite store with a controlled clock."""

from __future__ import annotations

import json

import pytest

from tests.unit.services import services_for
from trent.api import identity
from trent.api import keys as key_api
from trent.api.context import RequestContext, Services
from trent.api.maintenance import run_due_work
from trent.domain.errors import ExpiredTokenException, NotFoundException
from trent.domain.identities import Caller, PrincipalType
from trent.domain.keys import DAY
from trent.storage.store import Store


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(memory_store: Store) -> tuple[Services, RequestContext, Clock]:
    store = memory_store
    with store.transaction() as tx:
        tx.identities.add_account("000000000000", 0.0)
    clock = Clock(1_800_000_000.0)
    services = services_for(store, clock)
    ctx = RequestContext(caller=Caller.account_root("000000000000", "AKIA"), region="us-east-1", request_id="r")
    return services, ctx, clock


def test_key_is_deleted_when_its_waiting_period_ends(setup: tuple[Services, RequestContext, Clock]) -> None:
    services, ctx, clock = setup
    key_id = key_api.create_key(services, ctx, {})["KeyMetadata"]["KeyId"]
    key_api.schedule_key_deletion(services, ctx, {"KeyId": key_id, "PendingWindowInDays": 7})
    clock.now += 7 * DAY - 1
    assert run_due_work(services)["deleted"] == 0
    assert key_api.describe_key(services, ctx, {"KeyId": key_id})["KeyMetadata"]["KeyState"] == "PendingDeletion"
    clock.now += 2
    # Due keys look deleted at once, before the sweeper removes them.
    with pytest.raises(NotFoundException):
        key_api.describe_key(services, ctx, {"KeyId": key_id})
    assert key_id not in [k["KeyId"] for k in key_api.list_keys(services, ctx, {})["Keys"]]
    assert run_due_work(services)["deleted"] == 1
    with services.store.transaction(write=False) as tx:
        assert tx.keys.get("000000000000", "us-east-1", key_id) is None
        assert tx.keys.material_versions(key_id) == []


def test_cancelled_deletion_is_not_swept(setup: tuple[Services, RequestContext, Clock]) -> None:
    services, ctx, clock = setup
    key_id = key_api.create_key(services, ctx, {})["KeyMetadata"]["KeyId"]
    key_api.schedule_key_deletion(services, ctx, {"KeyId": key_id, "PendingWindowInDays": 7})
    key_api.cancel_key_deletion(services, ctx, {"KeyId": key_id})
    clock.now += 8 * DAY
    assert run_due_work(services)["deleted"] == 0
    assert key_api.describe_key(services, ctx, {"KeyId": key_id})["KeyMetadata"]["KeyState"] == "Disabled"


def test_automatic_rotation_happens_when_due(setup: tuple[Services, RequestContext, Clock]) -> None:
    from trent.api import rotation

    services, ctx, clock = setup
    metadata = key_api.create_key(services, ctx, {})["KeyMetadata"]
    rotation.enable_key_rotation(services, ctx, {"KeyId": metadata["KeyId"], "RotationPeriodInDays": 90})
    clock.now += 89 * DAY
    assert run_due_work(services)["rotated"] == 0
    clock.now += 2 * DAY
    assert run_due_work(services)["rotated"] == 1
    after = key_api.describe_key(services, ctx, {"KeyId": metadata["KeyId"]})["KeyMetadata"]
    assert after["CurrentKeyMaterialId"] != metadata["CurrentKeyMaterialId"]
    rotations = rotation.list_key_rotations(services, ctx, {"KeyId": metadata["KeyId"]})["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
    status = rotation.get_key_rotation_status(services, ctx, {"KeyId": metadata["KeyId"]})
    assert status["NextRotationDate"] == pytest.approx(clock.now + 90 * DAY)
    assert run_due_work(services)["rotated"] == 0


def test_expired_session_credentials_are_kept_a_day_so_callers_hear_expired(
    setup: tuple[Services, RequestContext, Clock],
) -> None:
    services, _, clock = setup
    store = services.store
    user, user_key = identity.create_user(store, "000000000000", "caller")
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}]})
    role = identity.create_role(store, "000000000000", "worker", trust)
    caller = Caller("000000000000", user.arn, PrincipalType.USER, user.unique_id, user_key.access_key_id)
    session = identity.assume_role(store, caller, role.arn, "s1", 900, clock.now, lambda _role: True)
    credential = identity.load_credential(store, session.access_key_id)
    assert credential is not None
    clock.now += 900 + 3600  # an hour after it expired, after a maintenance pass
    run_due_work(services)
    credential = identity.load_credential(store, session.access_key_id)
    assert credential is not None
    with pytest.raises(ExpiredTokenException):
        credential.check_session_token(session.session_token, clock.now)
    clock.now += 86400  # more than a day after: forgotten
    assert run_due_work(services)["expired_sessions"] == 1
    assert identity.load_credential(store, session.access_key_id) is None


def test_a_primary_waits_for_its_last_replica_then_starts_its_window(
    setup: tuple[Services, RequestContext, Clock],
) -> None:
    """Deleting a multi-Region primary with replicas (the fact sheet §16): PendingReplicaDeletion, without a date,
    for as long as a replica exists; when the last one is deleted, PendingDeletion for the window asked for."""
    from trent.api import multi_region

    services, home, clock = setup
    away, far = home._replace(region="eu-west-1"), home._replace(region="ap-southeast-2")
    key_id = key_api.create_key(services, home, {"MultiRegion": True})["KeyMetadata"]["KeyId"]
    for ctx in (away, far):
        multi_region.replicate_key(services, home, {"KeyId": key_id, "ReplicaRegion": ctx.region})
    key_api.schedule_key_deletion(services, home, {"KeyId": key_id, "PendingWindowInDays": 10})
    key_api.schedule_key_deletion(services, away, {"KeyId": key_id, "PendingWindowInDays": 7})
    key_api.schedule_key_deletion(services, far, {"KeyId": key_id, "PendingWindowInDays": 30})

    def primary() -> dict[str, object]:
        metadata: dict[str, object] = key_api.describe_key(services, home, {"KeyId": key_id})["KeyMetadata"]
        return metadata

    clock.now += 7 * DAY + 1
    assert run_due_work(services)["deleted"] == 1  # the replica in eu-west-1
    assert primary()["KeyState"] == "PendingReplicaDeletion"
    assert primary()["MultiRegionConfiguration"]["ReplicaKeys"] == [  # type: ignore[index]
        {"Arn": f"arn:aws:kms:ap-southeast-2:000000000000:key/{key_id}", "Region": "ap-southeast-2"}
    ]
    clock.now += 23 * DAY
    assert run_due_work(services)["deleted"] == 1  # the last replica
    assert (primary()["KeyState"], primary()["DeletionDate"]) == ("PendingDeletion", clock.now + 10 * DAY)
    clock.now += 10 * DAY + 1
    assert run_due_work(services)["deleted"] == 1
    with pytest.raises(NotFoundException):
        key_api.describe_key(services, home, {"KeyId": key_id})


def test_replicas_rotate_automatically_with_their_primary(setup: tuple[Services, RequestContext, Clock]) -> None:
    from trent.api import multi_region, rotation

    services, home, clock = setup
    away = home._replace(region="eu-west-1")
    key_id = key_api.create_key(services, home, {"MultiRegion": True})["KeyMetadata"]["KeyId"]
    multi_region.replicate_key(services, home, {"KeyId": key_id, "ReplicaRegion": "eu-west-1"})
    rotation.enable_key_rotation(services, home, {"KeyId": key_id, "RotationPeriodInDays": 90})
    clock.now += 90 * DAY + 1
    assert run_due_work(services)["rotated"] == 1  # the primary, and its replica with it: one rotation
    materials = [
        key_api.describe_key(services, ctx, {"KeyId": key_id})["KeyMetadata"]["CurrentKeyMaterialId"]
        for ctx in (home, away)
    ]
    assert materials[0] == materials[1]
    assert [r["RotationType"] for r in rotation.list_key_rotations(services, away, {"KeyId": key_id})["Rotations"]] == [
        "AUTOMATIC"
    ]
    assert run_due_work(services)["rotated"] == 0
