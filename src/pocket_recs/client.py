"""``TrainingClient``: seed 001's Python client of the training service, plus recommendations."""

from __future__ import annotations

import time
from typing import Any

import httpx

from pocket_recs.errors import PocketRecsError

FINAL_STATUSES = ("completed", "failed", "cancelled")


class ServiceError(PocketRecsError):
    """The service answered with an error status; ``status_code`` and ``detail`` say which."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class TrainingClient:
    """Talks to a running ``pocket-recs serve``.

    Args:
        base_url: the service, e.g. ``http://127.0.0.1:8000``.
        http: an ``httpx.Client`` to use instead of a new one (tests pass the app's TestClient).
        timeout_s: timeout of each request.

    Example:
        >>> client = TrainingClient("http://127.0.0.1:8000")
        >>> client.login("ann@example.com", "secret-password")
        >>> job_id = client.start_training("als", "shop", factors=64, iterations=15)
        >>> client.wait_for_completion(job_id)["metrics"]["recall_at_k"]
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, http: httpx.Client | None = None, timeout_s: float = 30.0) -> None:
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout_s)
        self._headers: dict[str, str] = {}

    def login(self, email: str, password: str) -> None:
        """Get an API token (OAuth2 password flow); later calls send it."""
        answer = self._call("POST", "/api/token", data={"username": email, "password": password})
        self._headers = {"Authorization": f"Bearer {answer['access_token']}"}

    def start_training(self, model_type: str, data_path: str, *, promote: bool = False, **params: Any) -> str:
        """Start a job training ``model_type`` on the dataset folder ``data_path``; returns its id.

        ``params`` are settings of the model (e.g. ``factors=64, iterations=15`` for als).
        """
        body = {"model_type": model_type, "data_path": data_path, "params": params, "promote": promote}
        job_id: str = self._call("POST", "/api/jobs", json=body)["job_id"]
        return job_id

    def get_status(self, job_id: str) -> dict[str, Any]:
        """The job's status (seed 001's shape: status, metrics, model_path, ...)."""
        status: dict[str, Any] = self._call("GET", f"/training_status/{job_id}")
        return status

    def wait_for_completion(self, job_id: str, *, timeout_s: float = 3600.0, poll_interval_s: float = 1.0) -> dict[str, Any]:
        """Poll until the job is completed, failed or cancelled; returns its final status.

        Raises:
            TimeoutError: the job is still running after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.get_status(job_id)
            if status["status"] in FINAL_STATUSES:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {status['status']} after {timeout_s:.0f}s")
            time.sleep(poll_interval_s)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job."""
        status: dict[str, Any] = self._call("POST", f"/api/jobs/{job_id}/cancel")
        return status

    def jobs(self) -> list[dict[str, Any]]:
        """The logged-in user's jobs, newest first."""
        jobs: list[dict[str, Any]] = self._call("GET", "/api/jobs")
        return jobs

    def recommend(self, user_id: str | int, k: int = 10, *, explain: bool = False) -> list[dict[str, Any]]:
        """The ``k`` best items for a user from the served model version."""
        answer = self._call("GET", f"/recommend/{user_id}", params={"k": k, "explain": explain})
        items: list[dict[str, Any]] = answer["items"]
        return items

    def similar(self, item_id: str | int, k: int = 10) -> list[dict[str, Any]]:
        """Items like ``item_id``."""
        items: list[dict[str, Any]] = self._call("GET", f"/similar/{item_id}", params={"k": k})["items"]
        return items

    def send_event(self, user_id: str | int, item_id: str | int, event: str = "view") -> None:
        """Report new feedback; the user's next recommendations learn from it."""
        self._call("POST", "/events", json={"user_id": user_id, "item_id": item_id, "event": event})

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, headers=self._headers, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ServiceError(response.status_code, detail)
        return response.json()
