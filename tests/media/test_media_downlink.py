"""Downlink adaptation (server/media/downlink.py, issue 16): a viewer receives the videos its link carries.

The policy's steps on given intervals (cameras to their thumbnails first, then pausing), then the real thing:
three aiortc publishers (camera and thumbnail) and an aiortc viewer in a network namespace, the viewer's
downlink capped at 1 Mb/s by an iptables ``hashlimit`` rule for a while, then freed
(tests/media/downlink_child.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.media.downlink import (
    FULL,
    LOW,
    PAUSED,
    DownlinkConfig,
    DownlinkPolicy,
    Interval,
    ViewerLink,
    ladder,
    reduced_step,
)
from server.media.uplink import UplinkConfig, UplinkEstimator
from tests.netns import namespace

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VIDEO_BPS = 350_000
LOW_BPS = 110_000
AUDIO_BPS = 130_000


def interval(levels: tuple[int, ...], loss: float | None, remb_bps: float | None = None) -> Interval:
    full, low = levels.count(FULL), levels.count(LOW)
    video = full * VIDEO_BPS + low * LOW_BPS
    return Interval(seconds=0.5, loss=loss, sent_bps=AUDIO_BPS + video, audio_bps=AUDIO_BPS, video_bps=video,
                    videos=full + low, remb_bps=remb_bps, low_videos=low, low_bps=low * LOW_BPS)


def cap(link: ViewerLink) -> int | None:
    """Without low layers, a step is a number of videos: None (all) ... 0."""
    return None if link.level is None else len(link.ladder) - 1 - link.level


def run(policy: DownlinkPolicy, link: ViewerLink, start_s: float, seconds: float,
        loss: float | None, remb_bps: float | None = None) -> list[tuple[float, int | None]]:
    """Intervals of 0.5 s with this loss, the viewer forwarded what its step allows; the steps taken (as
    `cap`: videos forwarded, when no video has a low layer)."""
    steps = []
    t = start_s
    while t < start_s + seconds:
        levels = link.ladder[link.level or 0]
        if policy._step(link, interval(levels, loss, remb_bps), t):  # noqa: SLF001 - the policy's core
            steps.append((t, cap(link)))
        t += 0.5
    return steps


def test_policy_steps_down_on_loss_and_back_up_one_step_at_a_time() -> None:
    config = DownlinkConfig(up_after_s=2.0, backoff_max_s=5.0)  # round figures for the timings below
    policy = DownlinkPolicy(config)
    link = policy.link("v")
    link.ladder = ladder((False, False, False))  # three videos, none with a low layer: pausing only
    # random loss under 10 % is the link's noise: every video stays
    assert run(policy, link, 0.0, 10.0, 0.05) == []
    # one lossy interval is not enough; two are: one video paused (pausing goes one video at a time)
    assert run(policy, link, 10.0, 0.5, 0.12) == []
    assert run(policy, link, 10.5, 0.5, 0.12) == [(10.5, 2)]
    assert link.ceiling == 0 and link.backoff_s == 2.0
    # severe loss steps at once, one more video
    assert run(policy, link, 12.0, 0.5, 0.4) == [(12.0, 1)]
    assert link.ceiling == 1 and link.backoff_s == 4.0
    # clean: a step up after up_after_s (the step above never failed: no back-off) ...
    steps = run(policy, link, 12.5, 30.0, 0.0)
    assert [cap for _, cap in steps] == [2, None]
    assert steps[0][0] - 12.0 == 2.0 + 4.0  # ... to the step that failed: after the back-off too
    assert steps[1][0] - steps[0][0] == config.probe_hold_s  # the probe held, then the step above it
    assert link.ceiling is None
    # the link thins further: down to audio only, never below
    link.level, link.backoff_s, link.last_up_s = 1, 0.0, -1.0
    run(policy, link, 50.0, 1.0, 0.3)
    assert cap(link) == 1
    run(policy, link, 60.0, 1.0, 0.3)
    assert cap(link) == 0
    run(policy, link, 70.0, 1.0, 0.5)
    assert cap(link) == 0 and link.backoff_s == 4.0  # at audio only: no further step, nor back-off
    # the link is free again: one step at a time, each held before the next
    steps = run(policy, link, 71.0, 30.0, 0.0)
    assert [cap for _, cap in steps] == [1, 2, None]
    run(policy, link, 101.0, 10.0, 0.0)
    assert link.backoff_s == 0.0


def test_a_failed_probe_goes_back_one_step_and_waits_longer() -> None:
    """Hysteresis: a step up that meets loss goes back to the step that held (not as far as the loss reading
    says: a probe's own loss reads severe), which a severe reading alone does not leave; the next probe of the
    same step waits a back-off that doubles; headroom at the last failure's throughput skips the wait."""
    config = DownlinkConfig()
    policy = DownlinkPolicy(config)
    policy.levels("v", [True, True, True])
    link = policy.link("v")
    link.level, link.ceiling, link.ceiling_bps = 2, 1, 900_000  # (FULL, LOW, LOW), (FULL, FULL, LOW) failed
    link.backoff_s, link.last_lossy_s = 1.5, 0.0
    assert run(policy, link, 0.5, 2.5, 0.0) == []  # up_after_s plus the back-off
    assert run(policy, link, 3.0, 0.5, 0.0) and link.level == 1
    # the probe fails with a severe reading: back to the step that held, one step only
    assert run(policy, link, 4.0, 0.5, 0.5) and link.level == 2
    assert link.good_level == 2 and link.backoff_s == 3.0
    # at the step that held, one severe reading is not enough (the probe's loss reported late); two are
    assert run(policy, link, 5.0, 0.5, 0.5) == []
    assert run(policy, link, 5.5, 0.5, 0.0) == []
    # the next probe waits up_after_s plus the doubled back-off
    steps = run(policy, link, 6.0, 10.0, 0.0)
    assert [t for t, _ in steps] == [5.0 + config.up_after_s + 3.0, 9.5 + config.probe_hold_s]
    assert link.level is None
    # a ceiling whose throughput carries the step with headroom: no back-off
    link.level, link.ceiling, link.backoff_s, link.last_lossy_s = 2, 1, 4.0, 20.0
    link.ceiling_bps = 2_000_000
    assert run(policy, link, 20.5, 2.0, 0.0)[0][0] == 20.0 + config.up_after_s and link.level == 1


def police(policy: DownlinkPolicy, link: ViewerLink, start_s: float, seconds: float,
           cap_bps: float | None) -> list[tuple[float, int]]:
    """A policer (a capped 3G/4G link): what the viewer is sent over `cap_bps` is lost, read one interval
    late (NACKs and reports come after the packets). The levels taken, as (time, step)."""
    history = []
    t = start_s
    pending: float | None = 0.0
    while t < start_s + seconds:
        levels = link.ladder[link.level or 0]
        sent = interval(levels, 0.0).sent_bps
        loss_now = 0.0 if cap_bps is None else max(0.0, 1.0 - cap_bps / sent)
        if policy._step(link, interval(levels, pending), t):  # noqa: SLF001 - the policy's core
            history.append((t, link.level or 0))
        pending = loss_now
        t += 0.5
    return history


def test_a_policed_link_holds_the_thumbnails_and_recovers_stepwise() -> None:
    """Capped at 800 kb/s (1.18 Mb/s sent at full, 940 kb/s with one thumbnail, 700 with two): the viewer
    settles on the hall full and two thumbnails, probes the step above now and then (not more often as the
    probes keep failing), never pauses a video; once the cap is lifted, full quality back within 10 s."""
    config = DownlinkConfig()
    policy = DownlinkPolicy(config)
    policy.levels("v", [True, True, True])
    link = policy.link("v")
    police(policy, link, 0.0, 5.0, None)
    assert link.level is None
    capped = police(policy, link, 5.0, 60.0, 800_000)
    assert max(level for _, level in capped) <= link.reduced_step  # thumbnails, never a pause
    late = [(t, level) for t, level in capped if t >= 25.0]
    assert late and all(level in (1, 2) for _, level in late)  # between the step that holds and the probe
    probes = [t for t, level in late if level == 1]
    assert len(probes) <= 40 / (config.up_after_s + config.backoff_max_s) + 1  # the back-off holds them off
    at_1 = sum(b[0] - a[0] for a, b in zip(late, late[1:], strict=False) if a[1] == 1)
    assert at_1 < 0.35 * (late[-1][0] - late[0][0])  # mostly at the step that holds
    freed = police(policy, link, 65.0, 20.0, None)
    assert link.level is None
    assert freed[-1][0] - 65.0 <= 10.0, freed
    assert [level for _, level in freed] == sorted((level for _, level in freed), reverse=True)


@pytest.mark.parametrize("cap_bps", [1_500_000, 1_000_000, 600_000])
def test_nine_cameras_are_back_at_full_within_10_s_of_the_lift(cap_bps: int) -> None:
    """Nine cameras with thumbnails: eighteen steps. Near the step that failed the viewer goes up one step at
    a time; once a probe of it held, 1, 2, 4... steps while each holds. Going up one step at a time all the
    way took 10.5, 17.0 and 21.0 s here (the policy before, same harness)."""
    policy = DownlinkPolicy(DownlinkConfig())
    policy.levels("v", [True] * 9)
    link = policy.link("v")
    police(policy, link, 0.0, 5.0, None)
    police(policy, link, 5.0, 60.0, cap_bps)
    assert link.level is not None and link.level >= 5  # the cap took it well down the ladder
    freed = police(policy, link, 65.0, 30.0, None)
    assert link.level is None
    assert freed[-1][0] - 65.0 <= 10.0, freed
    assert [level for _, level in freed] == sorted((level for _, level in freed), reverse=True)


def test_remb_is_reported_not_acted_on() -> None:
    policy = DownlinkPolicy(DownlinkConfig())
    link = policy.link("v")
    link.ladder = ladder((True, True, True))
    # aiortc's estimator in a busy process says a third of what arrives whole: no step on it
    assert run(policy, link, 0.0, 5.0, 0.03, remb_bps=300_000) == []
    policy.remb("v", 400_000, [1, 2], 6.0)
    policy.remb("v", 300_000, [3], 6.0)
    policy.remb("v", 500_000, [2], 6.5)  # a newer REMB for an SSRC replaces the set that named it
    assert sorted(link.remb.values()) == [(300_000, 6.0), (500_000, 6.5)]


def test_ladder_reduces_to_thumbnails_before_pausing() -> None:
    """The steps: cameras with a thumbnail go to it, the least important first, before any video is paused;
    a less important video without one is paused before a more important one is reduced; screens (listed
    first) are paused last."""
    f, lo, p = FULL, LOW, PAUSED
    assert ladder((True, True, True)) == (
        (f, f, f), (f, f, lo), (f, lo, lo), (lo, lo, lo), (lo, lo, p), (lo, p, p), (p, p, p))
    assert ladder((False, False, False)) == ((f, f, f), (f, f, p), (f, p, p), (p, p, p))  # today's pausing
    assert ladder((True, True, False)) == (
        (f, f, f), (f, f, p), (f, lo, p), (lo, lo, p), (lo, p, p), (p, p, p))
    # a screen and two cameras: the cameras go to their thumbnails, then are paused; the screen last
    assert ladder((False, True, True)) == (
        (f, f, f), (f, f, lo), (f, lo, lo), (f, lo, p), (f, p, p), (p, p, p))
    assert ladder(()) == ((),)
    shapes = ((True,) * 3, (False,) * 3, (True, True, False), (False, True, True))
    assert [reduced_step(h) for h in shapes] == [3, 0, 3, 2]


def test_a_thin_link_steps_to_the_thumbnails_first_and_back_up() -> None:
    policy = DownlinkPolicy(DownlinkConfig(up_after_s=2.0, backoff_max_s=5.0))
    assert policy.levels("v", [True, True, True]) == (FULL, FULL, FULL)
    link = policy.link("v")
    # 1.18 Mb/s sent, 30 % lost: 826 kb/s arrived, 696 for video: the hall full and two thumbnails (560 kb/s,
    # a thumbnail not measured yet counted at LOW_SHARE of a camera), not the hall and one more camera (805)
    assert run(policy, link, 0.0, 0.5, 0.3) == [(0.0, 4)]
    assert link.level == 2 and policy.levels("v", [True, True, True]) == (FULL, LOW, LOW)
    # thinner still: every camera as its thumbnail before any is paused (the low layer's measured rate)
    assert run(policy, link, 2.0, 0.5, 0.3)
    assert policy.levels("v", [True, True, True]) == (LOW, LOW, LOW)
    # from all full, even a loss that the throughput says needs pausing goes to the thumbnails first
    other = DownlinkPolicy(DownlinkConfig())
    other.levels("w", [True, True, True])
    thin = other.link("w")
    assert run(other, thin, 0.0, 0.5, 0.6) == [(0.0, 3)] and thin.level == 3  # (LOW, LOW, LOW), not lower
    run(other, thin, 2.0, 0.5, 0.6)
    assert other.levels("w", [True, True, True]).count(PAUSED) >= 1  # then pausing
    # the link recovers: back to every camera at full, one step at a time (thumbnail -> full)
    steps = run(policy, link, 3.0, 30.0, 0.0)
    assert [cap for _, cap in steps] == [4, 5, None] and link.level is None
    assert policy.levels("v", [True, True, True]) == (FULL, FULL, FULL)
    # the room's choice is reported (link_quality: videos_paused, videos_reduced)
    policy.applied("v", ["c"], ["b"])
    assert (link.paused, link.reduced) == (("c",), ("b",))


def test_levels_keep_screens_first_and_audio_always() -> None:
    policy = DownlinkPolicy(DownlinkConfig())
    screen_and_cameras = [False, False, False, False, False]
    assert policy.levels("v", screen_and_cameras) == (FULL,) * 5  # no step
    policy.link("v").level = 3
    assert policy.levels("v", screen_and_cameras) == (FULL, FULL, PAUSED, PAUSED, PAUSED)
    policy.link("v").level = 5
    assert policy.levels("v", screen_and_cameras) == (PAUSED,) * 5
    assert DownlinkPolicy(DownlinkConfig(enabled=False)).levels("v", screen_and_cameras) == (FULL,) * 5


@pytest.mark.e2e
def test_capped_viewer_switched_down_and_up(tmp_path: Path) -> None:
    """A capped viewer switched down and up: while capped at 1 Mb/s it gets the cameras as their publishers'
    thumbnails (the low layer: half the width, a fraction of the bitrate) rather than frozen or paused videos,
    and no audio freeze; once the cap is lifted, every camera comes back at its full layer. Three cameras of
    ~450 kb/s (1.5 Mb/s with audio: the cap binds even when a loaded machine's publishers send less), each
    publisher also sending its 240x180 thumbnail as browsers do (the chair's wall's second track).
    Seen at a load average of 9-12 from other jobs: 43 % of the capped video time on the thumbnails, 15 %
    paused, 19.5 % frozen, 641 of 1308 kb/s, every camera full again 7.0 s after the lift; at 3-9: 25-48 % on
    the thumbnails, 7-17 % paused, 21-24 % frozen, full again after 3.0-5.0 s."""
    why = "this test needs root, iproute2 and iptables (Debian: apt-get install iptables)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with namespace("gb-downlink", [], why=why) as name:
        done = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, "-m", "tests.media.downlink_child", "--cap-kbps",
             "1000", "--before", "3", "--capped", "20", "--after", "16", "--video-kbps", "450"],
            capture_output=True, text=True, timeout=150, env=env, cwd=REPO, check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))
    before, capped = result["before"], result["capped"]
    assert result["thumbnail"] and before["video_low_ratio"] == 0.0, result
    assert capped["audio_freezes"] == 0, capped
    # switched down to the low layer: a good part of the capped time on the thumbnails (25-48 % of the three
    # videos' time seen at load averages 3-12, the step ups that probe the link taking them back to full for a
    # while each time), before any pause
    assert capped["video_low_ratio"] > 0.15, capped
    # received: half the width (240 of 480 px) for most of the capped time of at least one camera (of all
    # three in most runs), and less bitrate
    assert before["median_width"] == {"hall": 480, "chumo": 480, "iapa": 480}, before
    assert min(w for w in capped["median_width"].values() if w) == 240, capped
    assert capped["video_kbps_received"] < 0.8 * before["video_kbps_received"], (before, capped)
    # and less frozen: the pause-only policy (--no-thumbnail) froze 22-42 % of its forwarded video time at
    # 1 Mb/s in the README's benchmark, the baseline (--no-adapt) 55-63 % here; with the thumbnails 19.5 % at
    # a load average of 9-12 (the step ups that probe the capped link break the videos for a second or two)
    assert capped["video_freeze_ratio"] < 0.3, capped
    # switched up: every camera at its full layer again after the lift. The target is 10 s; on this
    # 2-core machine under load (other jobs) the pause-only policy took 4.3-12.0 s (the first step up waits
    # the back-off after the last failed try under the cap), so the test allows 15 s
    assert result["first_full_s"] is not None and result["first_full_s"] <= 15.0, result
    assert result["final_width"] == {"hall": 480, "chumo": 480, "iapa": 480}, result


def test_uplink_estimate_lowers_a_lossy_publisher_and_recovers() -> None:
    """The REMB a publisher is sent (server/media/uplink.py): the cap on a clean uplink, less on a full."""
    uplink = UplinkEstimator(800_000)
    expected = received = 0

    def second(t: float, loss: float) -> int:
        nonlocal expected, received
        expected += 100
        received += round(100 * (1 - loss))
        return uplink.update("cam", expected, received, t)

    assert second(0.0, 0.0) == 800_000
    assert [second(t, 0.05) for t in (1.0, 2.0)] == [800_000, 800_000]  # noise: held
    assert second(3.0, 0.30) == 680_000  # x (1 - 0.3 / 2)
    assert second(4.0, 0.30) == 578_000
    for t in range(5, 30):
        second(float(t), 0.6)
    assert uplink.update("cam", expected, received, 30.0) == UplinkConfig().floor_bps
    rates = [second(float(t), 0.0) for t in range(31, 70)]
    assert rates == sorted(rates) and rates[-1] == 800_000  # up 8 % a second, to the cap
    assert uplink.update("cam", 5, 5, 71.0) == 800_000  # counts restarted (a new sender): the cap again
