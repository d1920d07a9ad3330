process QUANT_SUMMARY {
    publishDir "${params.outdir}/summary", mode: 'copy'

    input:
    path quant_dirs

    output:
    path 'tpm_matrix.tsv',     emit: tpm
    path 'counts_matrix.tsv',  emit: counts
    path 'mapping_summary.tsv', emit: summary

    script:
    """
    summarize_salmon.py --out-prefix . ${quant_dirs}
    """
}
