process SALMON_QUANT {
    tag "${meta.id}"
    publishDir "${params.outdir}/salmon", mode: 'copy'

    input:
    tuple val(meta), path(reads)
    path index
    path gene_map

    output:
    tuple val(meta), path("${meta.id}"), emit: results
    path 'versions.txt', emit: versions

    script:
    def read_args = meta.single_end ? "-r ${reads[0]}" : "-1 ${reads[0]} -2 ${reads[1]}"
    def gene_args = gene_map ? "--geneMap ${gene_map}" : ''
    """
    salmon quant \\
        --index ${index} \\
        --libType ${params.libtype} \\
        ${read_args} \\
        --validateMappings \\
        --gcBias \\
        ${gene_args} \\
        --threads ${task.cpus} \\
        --output ${meta.id}

    echo "salmon: \$(salmon --version | sed 's/salmon //')" > versions.txt
    """
}
