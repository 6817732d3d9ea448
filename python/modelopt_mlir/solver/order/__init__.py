"""The op order with the least peak memory.

peak (the memory of an order) -> heuristics (list schedules, reversed graphs, local search)
-> bounds (op-local, min-cut) -> ilp (MODeL's create/preserve model, whole graph or windows)
and joint_ilp (order and offsets together, small graphs); driver.solve_order runs them within
one work budget. On the clock, for bench/orders_bench.py only: ilp_bound (the whole-graph ILP
for its dual bound, its LP relaxation, a window search) and local_search (iterated local
search).
"""
