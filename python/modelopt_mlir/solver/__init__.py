"""The solver: a plain problem in, a plan out; it knows nothing about MLIR.

problem.py holds the types (IntervalProblem -> OffsetPlan, ScheduleProblem -> OrderPlan,
ArenaPlan); arena_planner.plan_arena plans a ScheduleProblem: an order (order/), then offsets
for the live intervals that order gives (offsets/). work.py turns time limits into counted
work, highs.py is the one HiGHS interface of both ILPs, problem_files.py and graph.py read and
write the problem files of modelopt-plan, generators.py makes instances with a known optimum.
"""
