"""Measurement and reporting built on the library: the benchmark (`bench`, `bench_timing`,
`bench_ort`, `bench_report`, `bench_config`) and the paper-style evaluation report (`report`,
`report_figures`). They import the core (`fastbert/`); the core never imports them."""
