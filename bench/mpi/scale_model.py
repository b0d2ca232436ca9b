#!/usr/bin/env python3
"""bench/mpi/scale_model.py: the all-reduce cost model of docs/scale.md, fitted to measured figures.

A ring all-reduce of S bytes over P hosts sends 2 (P - 1) messages per host, each of S / P bytes, one after
the other, and each host copies and adds what it receives: t(P) = 2 (P - 1) alpha + 2 (P - 1) / P * (gamma +
S / (eta B)), with B the link rate, eta the share of it that TCP delivers and gamma the host's own work on S
bytes. Two hosts (P = 2): t = 2 alpha + gamma + S / (eta B). alpha comes from the smallest all-reduce (4 KB:
the per-message cost), eta from the 2.6 MB all-reduce shaped to 10 and 1 Gbit/s (the change between the two
rates cancels alpha and gamma), gamma from what is left of the 10 Gbit/s time. A step of a rank computes b images at c seconds each; communication stays under a
third of the step when t <= (b c + t) / 3, that is b >= 2 t / c.

    python3 bench/mpi/scale_model.py T_SMALL_MS T_10G_MS T_1G_MS C_US
(the minimum times of build/bench/mpi-allreduce on two simulated hosts, and c in microseconds per image)
"""
import sys

S = 652824 * 4  # bytes: the 784-400-20 model's gradient
t_small, t10, t1, c_us = (float(v) for v in sys.argv[1:5])
alpha = t_small / 2 / 1e3                                  # seconds per message
eta = S * 8 * (1 / 1e9 - 1 / 1e10) / ((t1 - t10) / 1e3)    # the share of the link rate delivered
gamma = t10 / 1e3 - 2 * alpha - S * 8 / (eta * 1e10)       # seconds of the hosts' own work on S bytes
c = c_us * 1e-6
print(f"alpha = {alpha * 1e6:.1f} us per message, eta = {eta:.2f} of the link rate, gamma = {gamma * 1e3:.2f} ms, "
      f"c = {c_us:.1f} us per image")
print("| hosts | link | all-reduce (model) | per-rank batch for communication <= 1/3 of a step |")
print("| --- | --- | --- | --- |")
for P in (2, 8, 64):
    for gbit in (1, 10, 100):
        t = 2 * (P - 1) * alpha + 2 * (P - 1) / P * (gamma + S / (eta * gbit * 1e9 / 8))
        print(f"| {P} | {gbit} Gbit/s | {t * 1e3:.2f} ms | {int(2 * t / c) + 1} |")
