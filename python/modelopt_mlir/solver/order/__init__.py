"""The op order with the least peak memory.

peak (the memory of an order) -> heuristics (list schedules, reversed graphs, local search)
-> bounds (op-local, min-cut) -> ilp (MODeL's create/preserve model, whole graph or windows)
and joint_ilp (order and offsets together, small graphs); driver.solve_order runs them within
one work budget.
"""
