"""Offsets for buffers with fixed live intervals (dynamic storage allocation).

arrays (IntervalArrays, the form every solver here works on) -> heuristics (best-fit in
several orders, compiled in bestfit_kernel; local search) -> exact searches at a capacity
(dsa_search + dsa_kernel, canonical_search + canonical_kernel, guillotine; shared pieces in
search_base) and the ILP (ilp) -> peak_window for sharp peaks; driver.solve_offsets runs them
within one work budget, and check.offsets_are_valid checks every plan exactly.
"""
