"""Graph algorithms of the credit graph: pure functions over CSR adjacency, no I/O but ``io``.

- ``csr``: build a weighted adjacency and node index from edge arrays, edge cases counted;
- ``pagerank``: (personalised, batched) PageRank by power iteration, networkx semantics;
- ``multilayer``: multilayer personalised PageRank (Óskarsdóttir & Bravo 2021);
- ``structure``: degree, clustering, 2-hop reach, Leiden communities, NMI;
- ``rank``: exposure of every node to known-bad seeds, signed graphs included;
- ``io``: read analysts' edge and seed files, write score tables.

Import from the submodules (``from creditgraph.graph.pagerank import pagerank``): the package
re-exports nothing, so the module ``pagerank`` is never shadowed by the function of that name.
"""
