"""Fixtures: the real peers, each reaped after its test (also on failure),
and a manager that is always closed."""

import logging
import os

import pytest

from peers import Broker, FaultProxy, WsServer, find_mosquitto


def _need(var):
    if not os.environ.get(var):
        pytest.skip("%s is not set (run through make check, or point it "
                    "at the build tree's tests/harness program)" % var)


@pytest.fixture
def broker():
    if not find_mosquitto():
        pytest.skip("mosquitto is not installed")
    b = Broker()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def closed_broker():
    """A broker that refuses every client (not authorized)."""
    if not find_mosquitto():
        pytest.skip("mosquitto is not installed")
    b = Broker(anonymous=False)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def ws_server():
    _need("TETHER_TEST_WSSERVER")
    s = WsServer()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def make_proxy():
    _need("TETHER_TEST_FAULTPROXY")
    made = []

    def make(target):
        p = FaultProxy(target)
        made.append(p)
        return p
    try:
        yield make
    finally:
        for p in made:
            p.close()


@pytest.fixture
def make_ws_server():
    _need("TETHER_TEST_WSSERVER")
    made = []

    def make(**kw):
        s = WsServer(**kw)
        made.append(s)
        return s
    try:
        yield make
    finally:
        for s in made:
            s.close()


@pytest.fixture
def managers():
    """Call it to register a manager; all are closed after the test."""
    made = []

    def keep(m):
        made.append(m)
        return m
    try:
        yield keep
    finally:
        for m in made:
            m.close()


@pytest.fixture(autouse=True)
def _tether_logging(caplog):
    caplog.set_level(logging.INFO, logger="tether")
