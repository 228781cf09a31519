"""Issue 22 findings a, c and f: staff login lockout that a stranger cannot turn against a
colleague, budgets against password spraying, and equal answers and work on every path."""

from __future__ import annotations

import statistics
import time

import httpx

APP_OVERRIDES = {"staff.failures_per_source": 12, "staff.failures_global": 40}
PASSWORD = "correct-horse-22"


def login(app, username: str, password: str, ip: str) -> httpx.Response:
    return httpx.post(f"{app.url}/api/v1/staff/login", json={"username": username, "password": password},
                      headers={"X-Real-Ip": ip}, timeout=30.0)


def staff(app, username: str) -> str:
    app.call(lambda s: s.staff.create_staff(username, "门诊医生", ["doctor"], PASSWORD))
    return username


def fresh_window(app) -> None:
    app.clock.advance(hours=1)      # past every budget window and first lock


def test_a_a_stranger_cannot_lock_a_colleague_out(app):
    fresh_window(app)
    colleague = staff(app, "dr.zhao")
    for _ in range(5):
        assert login(app, colleague, "guess-guess-1", "203.0.113.7").status_code == 401
    from_stranger = login(app, colleague, PASSWORD, "203.0.113.7")
    assert from_stranger.status_code == 429 and from_stranger.json()["error"]["code"] == "account_locked"
    assert login(app, colleague, PASSWORD, "10.20.1.15").status_code == 200     # the colleague's desk


def test_a_each_lock_of_the_same_source_lasts_longer(app):
    fresh_window(app)
    name = staff(app, "dr.qian")
    retries = []
    for _round in range(2):
        for _ in range(5):
            assert login(app, name, "guess-guess-2", "198.51.100.9").status_code == 401
        locked = login(app, name, PASSWORD, "198.51.100.9")
        assert locked.status_code == 429
        retries.append(int(locked.headers["Retry-After"]))
        app.clock.advance(seconds=retries[-1] + 1)
    assert 15 * 60 <= retries[0] <= 15 * 60 + 1 and 30 * 60 <= retries[1] <= 30 * 60 + 1
    assert login(app, name, PASSWORD, "198.51.100.9").status_code == 200       # success clears it
    for _ in range(5):
        login(app, name, "guess-guess-2", "198.51.100.9")
    assert int(login(app, name, PASSWORD, "198.51.100.9").headers["Retry-After"]) <= 15 * 60 + 1


def test_a_unknown_usernames_answer_exactly_like_known_ones(app):
    fresh_window(app)
    known = staff(app, "dr.sun")
    answers = {}
    for name in (known, "nobody.here"):
        seen = [login(app, name, "guess-guess-3", "192.0.2.44") for _ in range(6)]
        answers[name] = [(r.status_code, r.json()["error"]["code"], r.json()["error"]["message"])
                         for r in seen]
    assert answers[known] == answers["nobody.here"]
    assert answers[known][-1][:2] == (429, "account_locked")


def test_c_password_spraying_from_one_address_is_stopped_for_every_name(app):
    fresh_window(app)
    target = staff(app, "dr.li")
    for n in range(12):
        assert login(app, f"user{n:02d}", "Spring2026!", "203.0.113.80").status_code == 401
    sprayed = login(app, target, PASSWORD, "203.0.113.80")
    assert sprayed.status_code == 429 and sprayed.json()["error"]["code"] == "rate_limited"
    assert login(app, target, PASSWORD, "10.20.1.16").status_code == 200


def test_c_a_global_budget_stops_spraying_spread_over_many_addresses(app):
    fresh_window(app)
    target = staff(app, "dr.zhou")
    for n in range(40):
        login(app, f"spray{n:02d}", "Spring2026!", f"198.18.{n // 200}.{n % 200 + 1}")
    again = login(app, "spray99", "Spring2026!", "198.18.0.1")      # a source that failed
    assert again.status_code == 429
    assert login(app, target, PASSWORD, "10.20.1.17").status_code == 200       # a clean desk


def test_f_known_unknown_and_locked_paths_cost_the_same(app):
    fresh_window(app)
    name = staff(app, "dr.wu")
    for _ in range(5):
        login(app, name, "guess-guess-4", "192.0.2.99")

    def median_ms(username: str, ip: str) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            login(app, username, "guess-guess-4", ip)
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    unknown = median_ms("nobody.either", "192.0.2.100")
    locked = median_ms(name, "192.0.2.99")
    # before: locked ≈ 4 ms against ≈ 40 ms; now every path hashes once (scrypt ≈ 30-50 ms)
    assert locked > 0.5 * unknown, (locked, unknown)
