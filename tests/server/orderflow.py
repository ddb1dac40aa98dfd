"""A small world for order tests: a designer's part, labs with agents' heartbeats, a citizen."""
from __future__ import annotations

import io
from typing import Any

import trimesh

BARCELONA = (41.3874, 2.1686)


def cube_stl(size: float = 20.0) -> bytes:
    return bytes(trimesh.creation.box(extents=(size, size, size)).export(file_type="stl"))


def publish(user: Any, content: bytes | None = None, licence: str = "CERN-OHL-S-2.0", name: str = "part.stl") -> dict:
    r = user.post("/api/v1/designs", data={"title": "Part", "license": licence,
                                           "files": [(io.BytesIO(content or cube_stl()), name)]},
                  content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def printer(key: str = "p1", materials: tuple[str, ...] = ("PLA",), volume: tuple[int, int, int] = (220, 220, 250),
            process: str = "fdm") -> dict:
    return {"key": key, "name": f"Machine {key}", "process": process, "build_volume_mm": list(volume),
            "materials": list(materials)}


class Lab:
    def __init__(self, client: Any, operator: Any, name: str, lat: float, lon: float, kind: str = "fablab",
                 machines: list[dict] | None = None, online: bool = True, state: str = "idle") -> None:
        self.client = client
        r = operator.post("/api/v1/fablabs", json={"name": name, "kind": kind, "latitude": lat, "longitude": lon,
                                                   "machines": machines or [printer()]})
        assert r.status_code == 201, r.get_json()
        body = r.get_json()
        self.id, self.name = body["id"], name
        self.headers = {"Authorization": f"Bearer {body['node_token']}"}
        self.keys = [m["key"] for m in body["machines"]]
        if online:
            self.beat(state)

    def beat(self, state: str = "idle", **extra: Any) -> Any:
        machines = [{"key": k, "state": state, **extra} for k in self.keys]
        r = self.client.post("/api/v1/node/heartbeat", json={"agent": "test/1", "machines": machines}, headers=self.headers)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def jobs(self, state: str | None = None) -> list[dict]:
        r = self.client.get("/api/v1/node/jobs", query_string={"state": state} if state else {}, headers=self.headers)
        assert r.status_code == 200
        return r.get_json()["items"]

    def post(self, job_id: int, action: str, **body: Any) -> Any:
        return self.client.post(f"/api/v1/node/jobs/{job_id}/{action}", json=body, headers=self.headers)


def order(citizen: Any, design: dict, lat: float = 41.40, lon: float = 2.17, **extra: Any) -> Any:
    body = {"design_id": design["id"], "material": "PLA", "delivery": {"latitude": lat, "longitude": lon}, **extra}
    return citizen.post("/api/v1/orders", json=body)
