"""KMS keys: their record, their states and the rules for moving between states."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

from trent.domain.errors import (
    DisabledException,
    KMSInvalidStateException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.domain.ids import account_root_arn, key_arn, key_ref
from trent.domain.keyspec import KEY_SPECS, KeySpecInfo, KeyUsage

DAY = 86400.0
ORIGIN_AWS_KMS = "AWS_KMS"
ORIGIN_EXTERNAL = "EXTERNAL"
DEFAULT_ROTATION_PERIOD_DAYS = 365
MAX_ON_DEMAND_ROTATIONS = 25


class KeyState(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    #: A multi-Region primary scheduled for deletion while it still has replicas (docs/decisions.md D25).
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"
    PENDING_IMPORT = "PendingImport"
    UNAVAILABLE = "Unavailable"
    CREATING = "Creating"
    UPDATING = "Updating"


_STATE_PHRASE = {
    KeyState.PENDING_DELETION: "is pending deletion.",
    KeyState.PENDING_REPLICA_DELETION: "is pending replica deletion.",
    KeyState.PENDING_IMPORT: "is pending import.",
    KeyState.UNAVAILABLE: "is unavailable.",
    KeyState.CREATING: "is creating.",
    KeyState.UPDATING: "is updating.",
}


# --- the key-state table ------------------------------------------------------------------------------------------
_E, _D, _PD, _PRD = KeyState.ENABLED, KeyState.DISABLED, KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION
_PI, _U, _C, _UP = KeyState.PENDING_IMPORT, KeyState.UNAVAILABLE, KeyState.CREATING, KeyState.UPDATING
_ANY = frozenset(KeyState)
_IN_USE = frozenset({_E, _UP})  # the cryptographic operations
_NOT_DELETED = _ANY - {_PD, _PRD}

#: In which states an operation may act on a key: AWS's key-state table (the KMS developer guide's "Key states of
#: KMS keys", and docs/decisions.md D23, D25 for imported material and multi-Region keys), in one place. An
#: operation not listed works in every state. Refusals: `DisabledException: <arn> is disabled.` for a disabled key,
#: else `KMSInvalidStateException: <arn> is <state>.`; CancelKeyDeletion says `is not pending deletion.`
#: The transitions themselves (EnableKey, ScheduleKeyDeletion, ...) are `Key`'s methods below.
KEY_STATES: Mapping[str, frozenset[KeyState]] = {
    **dict.fromkeys(
        (
            "Encrypt",
            "Decrypt",
            "ReEncrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "Sign",
            "Verify",
            "GetPublicKey",
            "GenerateMac",
            "VerifyMac",
            "DeriveSharedSecret",
            "CreateGrant",
            "RotateKeyOnDemand",
            "EnableKeyRotation",
            "DisableKeyRotation",
        ),
        _IN_USE,
    ),
    **dict.fromkeys(
        ("UpdateKeyDescription", "TagResource", "UntagResource", "CreateAlias", "UpdateAlias", "GetKeyRotationStatus"),
        _NOT_DELETED,
    ),
    "EnableKey": frozenset({_E, _D, _U}),
    "DisableKey": frozenset({_E, _D, _U}),
    "ScheduleKeyDeletion": _ANY - {_PD, _PRD, _UP},
    "CancelKeyDeletion": frozenset({_PD, _PRD}),
    # Imported material (the key must be EXTERNAL, which is checked first).
    "GetParametersForImport": frozenset({_E, _D, _PI}),
    "ImportKeyMaterial": frozenset({_E, _D, _PI, _UP}),
    "DeleteImportedKeyMaterial": _ANY - {_C, _UP},
    # Multi-Region keys.
    "ReplicateKey": frozenset({_E}),
    "UpdatePrimaryRegion": frozenset({_E, _UP}),
}


def default_key_policy(account: str) -> str:
    """The policy AWS installs when CreateKey has no Policy (docs/decisions.md D17)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": account_root_arn(account)},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )


@dataclass(frozen=True, slots=True)
class Key:
    """A KMS key as stored, without its material (see `KeyMaterial`)."""

    key_id: str
    account: str
    region: str
    spec_name: str
    usage: KeyUsage
    state: KeyState
    description: str
    creation_date: float
    origin: str
    policy: str
    current_version: int
    deletion_date: float | None = None
    pending_window_days: int | None = None
    rotation_enabled: bool = False
    rotation_period_days: int | None = None
    next_rotation_date: float | None = None
    on_demand_rotations: int = 0
    #: Multi-Region keys only: the Region of the primary key, the same in every related key's row.
    primary_region: str | None = None
    #: Optimistic-concurrency counter: every update bumps it, and a stale update is refused by the store.
    version: int = 1

    @property
    def arn(self) -> str:
        return key_arn(self.region, self.account, self.key_id)

    @property
    def ref(self) -> str:
        """The store's name for this key (`trent.domain.ids.key_ref`): related multi-Region keys share an ID."""
        return key_ref(self.key_id, self.region)

    @property
    def multi_region(self) -> bool:
        return self.primary_region is not None

    @property
    def is_primary(self) -> bool:
        """A multi-Region primary key (single-Region keys are neither primary nor replica)."""
        return self.primary_region == self.region

    @property
    def is_replica(self) -> bool:
        return self.primary_region is not None and self.primary_region != self.region

    @property
    def spec(self) -> KeySpecInfo:
        return KEY_SPECS[self.spec_name]

    @property
    def enabled(self) -> bool:
        return self.state is KeyState.ENABLED

    @property
    def external(self) -> bool:
        """Its material is imported (Origin EXTERNAL), never generated."""
        return self.origin == ORIGIN_EXTERNAL

    def require_origin(self, origin: str) -> None:
        """Operations on imported material need an EXTERNAL key, automatic rotation an AWS_KMS one."""
        if self.origin != origin:
            raise UnsupportedOperationException(
                f"{self.arn} origin is {self.origin} which is not valid for this operation."
            )

    def require_primary(self) -> None:
        """Replication, on-demand rotation and the automatic-rotation switch belong to a multi-Region primary."""
        if not self.is_primary:
            raise UnsupportedOperationException(f"{self.arn} is not a multi-region primary key.")

    def replica_in(self, region: str, *, policy: str, description: str, now: float) -> Key:
        """A new replica of this primary in `region`: what related keys share is copied, nothing else
        (docs/decisions.md D25). Its material comes with it, or waits for its own import."""
        return replace(
            self,
            region=region,
            state=KeyState.PENDING_IMPORT if self.external else KeyState.ENABLED,
            description=description,
            creation_date=now,
            policy=policy,
            deletion_date=None,
            pending_window_days=None,
            version=1,
        )

    def require_state_for(self, operation: str) -> None:
        """Refuse `operation` unless the key-state table (`KEY_STATES`) allows it in this key's state."""
        if self.state in KEY_STATES.get(operation, _ANY):
            return
        if operation == "CancelKeyDeletion":
            raise KMSInvalidStateException(f"{self.arn} is not pending deletion.")
        if self.state is KeyState.DISABLED:
            raise DisabledException(f"{self.arn} is disabled.")
        raise KMSInvalidStateException(f"{self.arn} {_STATE_PHRASE.get(self.state, 'is ' + self.state + '.')}")

    # --- state rules -------------------------------------------------------------------------------
    def enable(self) -> Key:
        self.require_state_for("EnableKey")
        return replace(self, state=KeyState.ENABLED)

    def disable(self) -> Key:
        self.require_state_for("DisableKey")
        return replace(self, state=KeyState.DISABLED)

    def schedule_deletion(self, now: float, window_days: int, *, has_replicas: bool = False) -> Key:
        """Schedule deletion in `window_days`; a multi-Region primary that still has replicas waits for them
        in PendingReplicaDeletion, without a date (its window starts when the last replica is gone)."""
        if window_days < 7:
            raise ValidationException(_range_message(window_days, "greater than or equal to 7"))
        if window_days > 30:
            raise ValidationException(_range_message(window_days, "less than or equal to 30"))
        self.require_state_for("ScheduleKeyDeletion")
        if has_replicas:
            return replace(
                self, state=KeyState.PENDING_REPLICA_DELETION, deletion_date=None, pending_window_days=window_days
            )
        return replace(
            self,
            state=KeyState.PENDING_DELETION,
            deletion_date=now + window_days * DAY,
            pending_window_days=window_days,
        )

    def last_replica_deleted(self, now: float) -> Key:
        """A primary in PendingReplicaDeletion whose last replica is gone starts its own window."""
        window = self.pending_window_days or 30
        return replace(self, state=KeyState.PENDING_DELETION, deletion_date=now + window * DAY)

    def cancel_deletion(self) -> Key:
        self.require_state_for("CancelKeyDeletion")
        return replace(self, state=KeyState.DISABLED, deletion_date=None, pending_window_days=None)

    # --- rotation --------------------------------------------------------------------------------
    def require_rotation_supported(self) -> None:
        if not self.spec.is_symmetric:
            raise UnsupportedOperationException(f"{self.arn} key spec {self.spec_name} does not support key rotation.")

    def enable_rotation(self, now: float, period_days: int | None) -> Key:
        self.require_rotation_supported()
        self.require_origin(ORIGIN_AWS_KMS)  # imported material is never rotated automatically
        self.require_state_for("EnableKeyRotation")
        if self.multi_region:
            self.require_primary()  # replicas follow their primary's setting
        # As AWS: a request without RotationPeriodInDays sets the default, not the period set before.
        period = period_days or DEFAULT_ROTATION_PERIOD_DAYS
        return replace(
            self,
            rotation_enabled=True,
            rotation_period_days=period,
            next_rotation_date=now + period * DAY,
        )

    def disable_rotation(self) -> Key:
        self.require_rotation_supported()
        self.require_origin(ORIGIN_AWS_KMS)
        self.require_state_for("DisableKeyRotation")
        if self.multi_region:
            self.require_primary()
        return replace(self, rotation_enabled=False, next_rotation_date=None)

    def rotated(self, now: float, *, on_demand: bool) -> Key:
        """The key after a new material version became current."""
        changes: dict[str, object] = {"current_version": self.current_version + 1}
        if on_demand:
            changes["on_demand_rotations"] = self.on_demand_rotations + 1
        elif self.rotation_enabled and self.rotation_period_days:
            changes["next_rotation_date"] = now + self.rotation_period_days * DAY
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """One version of a key's material. `material` is the unwrapped secret: it never leaves the process.

    Imported material (keys of Origin EXTERNAL) has an `import_state`, and is `None` while it is absent: deleted,
    expired, or not imported yet. Material Trent generated has neither."""

    key_ref: str  # the key's `ref`: related multi-Region keys each hold their own copy
    version: int
    material_id: str  # 64 lowercase hex, AWS's KeyMaterialId
    created: float
    rotation_type: str | None  # None for the first version, else "AUTOMATIC" or "ON_DEMAND"
    material: bytes | None
    import_state: str | None = None  # "IMPORTED" | "PENDING_IMPORT"; None for generated material
    expiration_model: str | None = None  # "KEY_MATERIAL_EXPIRES" | "KEY_MATERIAL_DOES_NOT_EXPIRE"
    valid_to: float | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Alias:
    """A friendly name for a key, unique in its account and region."""

    account: str
    region: str
    name: str  # "alias/..."
    key_id: str
    created: float
    updated: float


class MaterialInfo(NamedTuple):
    """What is known of a material version without its secret (ListKeyRotations, DescribeKey)."""

    version: int
    material_id: str
    created: float
    rotation_type: str | None
    import_state: str | None
    expiration_model: str | None
    valid_to: float | None
    description: str | None


def _range_message(value: int, constraint: str) -> str:
    return (
        f"1 validation error detected: Value '{value}' at 'pendingWindowInDays' failed to satisfy constraint: "
        f"Member must have value {constraint}"
    )


def validate_spec_and_usage(spec_name: str, usage_name: str | None) -> tuple[KeySpecInfo, KeyUsage]:
    """Apply CreateKey's KeySpec x KeyUsage rules, with AWS's messages."""
    spec = KEY_SPECS.get(spec_name)
    if spec is None:
        raise UnsupportedOperationException(f"KeySpec {spec_name} is not supported by Trent.")
    if usage_name is None:
        if not spec.is_symmetric:
            raise ValidationException(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
            )
        return spec, KeyUsage.ENCRYPT_DECRYPT
    usage = KeyUsage(usage_name) if usage_name in KeyUsage.__members__ else None
    if usage is None or usage not in spec.usages:
        raise ValidationException(f"KeyUsage {usage_name} is not compatible with KeySpec {spec_name}")
    return spec, usage
