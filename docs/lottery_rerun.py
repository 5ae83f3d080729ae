#!/usr/bin/env python3
"""Re-run a 서울런 4050 lottery from what it publishes, without any of the service's code.

    python3 docs/lottery_rerun.py https://<server>/api/programs/<id>/draw
    python3 docs/lottery_rerun.py draw.json [programme.json]

It checks that the revealed seed matches the commitment published before registration opened (give the
programme's JSON, from GET /api/programs/<id>, to compare with the ``draw_commitment`` shown there), then
recomputes the order and the winners from the seed, the entries and the places, and says whether they
are the published ones. Only the standard library is used, so that anyone can read and run it.

The algorithm (``sha256-rank-v2``), as the draw's ``algorithm`` field states it:
- commitment = lowercase hex SHA-256 of the seed's UTF-8 bytes;
- order = the entries' ids sorted ascending by the lowercase hex SHA-256 of the text "<seed>:<id>";
- in that order, an entry wins when it fits in every session at once and then takes its share of each,
  otherwise it joins the waitlist and the next entries are still tried. Per session ``per`` is
  "person" (takes party_size places), "party" (takes one place) or "room" (takes the free room with the
  smallest max_party that holds the party, the smallest room id among equals).
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.request
from typing import Any


def load(source: str) -> Any:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as answer:  # noqa: S310 - a url the reader gives
            return json.load(answer)
    with open(source, encoding="utf-8") as handle:
        return json.load(handle)


def commitment(seed: str) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def order_of(seed: str, ids: list[int]) -> list[int]:
    return sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())


def winners_of(order: list[int], entries: list[dict[str, int]], places: list[dict[str, Any]]) -> list[int]:
    size = {e["id"]: e["party_size"] for e in entries}
    left = {p["slot_id"]: p["places"] for p in places}
    rooms = {p["slot_id"]: sorted((r["max_party"], r["room"]) for r in p.get("rooms") or []) for p in places}
    winners = []
    for entry in order:
        share = {}
        for p in places:
            slot = p["slot_id"]
            if p["per"] == "room":
                fitting = [r for r in rooms[slot] if r[0] >= size[entry]]
                if not fitting:
                    break
                share[slot] = fitting[0]
            else:
                need = size[entry] if p["per"] == "person" else 1
                if left[slot] < need:
                    break
                share[slot] = need
        if not places or len(share) != len(places):
            continue
        for slot, taken in share.items():
            if isinstance(taken, tuple):
                rooms[slot].remove(taken)
            else:
                left[slot] -= taken
        winners.append(entry)
    return winners


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    draw = load(argv[1])
    ok = True
    if len(argv) > 2:
        promised = load(argv[2]).get("draw_commitment")
        same = promised == commitment(draw["seed"])
        print(f"commitment published before registration: {promised}\nsha256(seed): {commitment(draw['seed'])}")
        print("commitment matches the seed" if same else "COMMITMENT DOES NOT MATCH THE SEED")
        ok &= same
    order = order_of(draw["seed"], [e["id"] for e in draw["entries"]])
    winners = winners_of(order, draw["entries"], draw["places"])
    print(f"order:   {order}\nwinners: {winners}")
    for name, mine, theirs in (("order", order, draw["order"]), ("winners", winners, draw["winners"])):
        same = mine == theirs
        print(f"{name} {'matches' if same else 'DIFFERS FROM'} the published one")
        ok &= same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
