"""The Snakemake report's pages: every summary a family registered with report_page(), rendered to HTML.
Included last, after every family has registered its pages."""


rule report_page:
    input:
        markdown=lambda w: REPORT_PAGES[w.page]["markdown"],
        code=code("stages/report_page"),
    output:
        report(RESULTS / "{page}", caption="../report/page.rst", category=lambda w: REPORT_PAGES[w.page]["category"],
               subcategory=lambda w: REPORT_PAGES[w.page]["subcategory"]),
    log:
        LOGS / "report_page" / "{page}.log",
    benchmark:
        BENCHMARKS / "report_page" / "{page}.tsv"
    wildcard_constraints:
        page="|".join(map(re.escape, REPORT_PAGES)) or "(?!)",
    params:
        caption=lambda w: REPORT_PAGES[w.page]["caption"],
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        ENV
    message:
        "Rendering {input.markdown} for the report"
    shell:
        "python -m hepgraph.stages.report_page --input {input.markdown} --output {output} > {log} 2>&1"
