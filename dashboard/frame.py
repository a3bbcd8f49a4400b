"""The dashboard's shared frame: settings, connections and the error guard, in one place.

Pages receive a `Frame` as an argument (never module globals), so each page
file can be rendered on its own (AppTest, a test harness) against any stores.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import psycopg
import redis
import streamlit as st

from quant_platform.config import Settings
from quant_platform.domain.coerce import first_line
from quant_platform.storage.redis_keys import RedisKeys


@st.cache_resource
def redis_client(url: str) -> redis.Redis:
    """One pooled client per URL for the whole server (it reconnects by itself)."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


@dataclass(frozen=True)
class Frame:
    """What every page needs: the settings and short-lived connections to the stores."""

    settings: Settings

    @contextlib.contextmanager
    def db(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(
            self.settings.database_url, connect_timeout=3, autocommit=True
        ) as conn:
            yield conn

    def redis(self) -> redis.Redis:
        return redis_client(self.settings.redis_url)

    def keys(self) -> RedisKeys:
        return RedisKeys(self.settings.redis_prefix)

    @staticmethod
    @contextlib.contextmanager
    def guard(what: str) -> Iterator[None]:
        """Turn a down store into a message for this panel only, never a traceback."""
        try:
            yield
        except psycopg.OperationalError as exc:
            st.warning(
                f"{what}: database unreachable ({first_line(exc)}).", icon=":material/cloud_off:"
            )
        except psycopg.Error as exc:
            st.warning(
                f"{what}: database error ({first_line(exc)}). Is the schema migrated "
                "(`qp db migrate`)?",
                icon=":material/error:",
            )
        except redis.RedisError as exc:
            st.warning(
                f"{what}: Redis unreachable ({first_line(exc)}).", icon=":material/cloud_off:"
            )


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()
