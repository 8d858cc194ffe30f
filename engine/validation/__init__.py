"""Checking a BPMN document before it is deployed: every problem at once, each with its
severity, a stable code, the element (id, name, line) and a sentence in English and Chinese.

findings.py  the Finding and DocumentError every check reports with
graph.py     the process as a graph: flow nodes, sequence flows, boundaries, subprocesses
flows.py     flows that point nowhere, unreachable elements, tasks with several ways out,
             gateways (conditions, defaults, exclusive gateways that miss an answer)
fields.py    expressions naming a field no form before them sets
timer_text.py  timers that are not ISO 8601, with the fix where it can be guessed
parser_errors.py  SpiffWorkflow's refusals as sentences naming the element
check.py     all of it in order: Duban's conventions, the static checks, the parser
"""
