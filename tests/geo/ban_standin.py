"""A stand-in for the national address base's geocoder, on loopback (the real one is out of
reach here): ``/search`` and ``/reverse`` answer in the BAN's GeoCodeJSON format, from a
few addresses. ``mode`` makes it fail as the real one can: "down" (503), "slow" (answers
after the hub gave up), "garbled" (not JSON), "refusing" (400, a question it rejects).
"""

from __future__ import annotations

import json
import math
import threading
import unicodedata
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True)
class BanAddress:
    housenumber: str
    street: str
    postcode: str
    city: str
    citycode: str
    lon: float
    lat: float

    @property
    def label(self) -> str:
        return f"{self.housenumber} {self.street} {self.postcode} {self.city}"

    def feature(self, score: float, distance: float | None = None) -> dict:
        properties = {
            "label": self.label, "score": score, "housenumber": self.housenumber,
            "id": f"{self.citycode}_0001_{self.housenumber.zfill(5)}",
            "name": f"{self.housenumber} {self.street}", "postcode": self.postcode,
            "citycode": self.citycode, "x": 652000.0, "y": 6877000.0, "city": self.city,
            "context": "95, Val-d'Oise, Île-de-France", "type": "housenumber", "importance": 0.6,
            "street": self.street, "_type": "address"}
        if distance is not None:
            properties["distance"] = round(distance)
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
                "properties": properties}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6_371_000 * math.hypot(x, math.radians(lat2 - lat1))


class BanStandIn:
    def __init__(self, addresses: list[BanAddress]) -> None:
        self.addresses = addresses
        self.mode = "ok"
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._stop = threading.Event()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                url = urlparse(self.path)
                params = {key: values[-1] for key, values in parse_qs(url.query).items()}
                standin.requests.append((url.path, params))
                if standin.mode == "slow":
                    standin._stop.wait(5)
                if standin.mode == "down":
                    self._send(503, b"<html>Service Unavailable</html>", "text/html")
                elif standin.mode == "refusing":
                    self._send(400, json.dumps({"code": 400, "message": "q must contain between 3 "
                                                "and 200 chars and start with a number or a letter"})
                               .encode(), "application/json")
                elif standin.mode == "garbled":
                    self._send(200, b"<html>proxy login</html>", "text/html")
                elif url.path.rstrip("/") == "/search":
                    self._json(standin.search(params))
                elif url.path.rstrip("/") == "/reverse":
                    self._json(standin.reverse(params))
                else:
                    self._send(404, b"{}", "application/json")

            def _json(self, data: dict) -> None:
                self._send(200, json.dumps(data).encode(), "application/json; charset=utf-8")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the hub gave up waiting and closed the connection

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> BanStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def search(self, params: dict[str, str]) -> dict:
        words = _fold(params.get("q", "")).split()
        found = [a for a in self.addresses if all(w in _fold(a.label) for w in words)]
        limit = int(params.get("limit", 5))
        return {"type": "FeatureCollection", "version": "draft",
                "features": [a.feature(0.9 - i / 100) for i, a in enumerate(found[:limit])],
                "attribution": "BAN", "licence": "ETALAB-2.0", "query": params.get("q"), "limit": limit}

    def reverse(self, params: dict[str, str]) -> dict:
        lon, lat = float(params["lon"]), float(params["lat"])
        ranked = sorted(self.addresses, key=lambda a: _metres(lon, lat, a.lon, a.lat))
        features = [a.feature(0.99, _metres(lon, lat, a.lon, a.lat)) for a in ranked[:1]
                    if _metres(lon, lat, a.lon, a.lat) < 1000]
        return {"type": "FeatureCollection", "version": "draft", "features": features,
                "attribution": "BAN", "licence": "ETALAB-2.0", "limit": 1}
