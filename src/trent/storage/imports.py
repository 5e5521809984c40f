"""The wrapping key pairs GetParametersForImport hands out: the private half wrapped under the root key, bound to
its token and key, kept until the token expires."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import delete, insert, select

from trent.storage import tables as t
from trent.storage.session import Session


class ImportParameters(NamedTuple):
    token_id: str
    key_ref: str
    wrapping_algorithm: str
    wrapping_key_spec: str
    private_key: bytes  # PKCS#8 DER, unwrapped
    expires: float


def import_aad(token_id: str, key_ref: str) -> bytes:
    return f"import-wrapping-key:{token_id}:{key_ref}".encode()


class ImportParametersRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, parameters: ImportParameters, *, keep: int) -> None:
        """Store a wrapping key; of the key's wrapping keys, only the newest `keep` are kept (the tokens of the
        others stop working), so that asking for parameters again and again cannot fill the disk."""
        self._s.conn.execute(
            insert(t.import_parameters).values(
                token_id=parameters.token_id,
                key_id=parameters.key_ref,
                wrapping_algorithm=parameters.wrapping_algorithm,
                wrapping_key_spec=parameters.wrapping_key_spec,
                private_key_wrapped=self._s.root_key.wrap(
                    parameters.private_key, import_aad(parameters.token_id, parameters.key_ref)
                ),
                expires=parameters.expires,
            )
        )
        c = t.import_parameters.c
        newest = select(c.token_id).where(c.key_id == parameters.key_ref).order_by(c.expires.desc()).limit(keep)
        self._s.conn.execute(
            delete(t.import_parameters).where(
                c.key_id == parameters.key_ref, c.token_id.not_in(newest.scalar_subquery())
            )
        )

    def get(self, token_id: str, key_ref: str) -> ImportParameters | None:
        c = t.import_parameters.c
        row = self._s.conn.execute(
            select(t.import_parameters).where(c.token_id == token_id, c.key_id == key_ref)
        ).first()
        if row is None:
            return None
        return ImportParameters(
            token_id=row.token_id,
            key_ref=row.key_id,
            wrapping_algorithm=row.wrapping_algorithm,
            wrapping_key_spec=row.wrapping_key_spec,
            private_key=self._s.root_key.unwrap(row.private_key_wrapped, import_aad(row.token_id, row.key_id)),
            expires=row.expires,
        )

    def purge(self, expired_before: float) -> int:
        """Forget wrapping keys whose tokens can no longer be used."""
        result = self._s.conn.execute(delete(t.import_parameters).where(t.import_parameters.c.expires < expired_before))
        return result.rowcount or 0
