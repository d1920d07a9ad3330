process SALMON_INDEX {
    tag "${transcriptome.simpleName}"
    publishDir "${params.outdir}/salmon_index", mode: 'copy'

    input:
    path transcriptome

    output:
    path 'salmon_index', emit: index
    path 'versions.txt', emit: versions

    script:
    """
    salmon index \\
        --transcripts ${transcriptome} \\
        --index salmon_index \\
        --kmerLen ${params.kmer} \\
        --threads ${task.cpus}

    echo "salmon: \$(salmon --version | sed 's/salmon //')" > versions.txt
    """
}
