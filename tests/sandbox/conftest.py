"""The Salesforce simulation and a client signed in to it, for the simulation's tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.salesforce import SalesforceSim


@pytest.fixture
def salesforce_sim() -> Iterator[SalesforceSim]:
    """A running simulation whose daily API limit is 1,000 calls."""
    with SalesforceSim(api_limit=1000) as running:
        yield running


@pytest.fixture
def salesforce_client(salesforce_sim: SalesforceSim) -> Iterator[httpx.Client]:
    """A client of the simulation's instance URL with an access token from the client credentials flow."""
    token = httpx.post(
        f"{salesforce_sim.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": salesforce_sim.client_id,
            "client_secret": salesforce_sim.client_secret,
        },
    ).json()
    with httpx.Client(
        base_url=token["instance_url"], headers={"Authorization": f"Bearer {token['access_token']}"}
    ) as client:
        yield client
