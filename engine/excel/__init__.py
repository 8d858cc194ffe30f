"""Excel ledgers (整改台账 / 问题清单): reading an office's sheet as it is, and writing one.

`columns` names the ledger's columns and the words offices use for them, `deadlines` reads
deadline texts (整改时限) such as "2020年12月底前", `sheet` finds the table in a worksheet,
`importing` turns its rows into problems (a dry run first), `exporting` writes the ledger.
"""
