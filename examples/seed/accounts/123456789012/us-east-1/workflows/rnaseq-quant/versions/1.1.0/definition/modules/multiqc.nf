process MULTIQC {
    publishDir "${params.outdir}/multiqc", mode: 'copy'

    input:
    path quant_dirs
    path config

    output:
    path 'multiqc_report.html', emit: report
    path 'multiqc_data',        emit: data

    script:
    def config_arg = config ? "--config ${config}" : ''
    """
    multiqc --force ${config_arg} --title 'rnaseq-quant' .
    """
}
