#!/usr/bin/env nextflow
/*
 * rnaseq-quant: transcript quantification with Salmon plus a per-run summary table.
 * Runs on AWS HealthOmics (outputs are published under /mnt/workflow/pubdir).
 */
nextflow.enable.dsl = 2

include { SALMON_INDEX  } from './modules/salmon_index'
include { SALMON_QUANT  } from './modules/salmon_quant'
include { QUANT_SUMMARY } from './modules/quant_summary'
include { MULTIQC       } from './modules/multiqc'

def checkParams() {
    if (!params.samplesheet) {
        error "Missing required parameter: --samplesheet"
    }
    if (!params.index && !params.transcriptome) {
        error "Provide either --index (prebuilt Salmon index) or --transcriptome (FASTA)"
    }
}

workflow {
    checkParams()

    ch_reads = Channel
        .fromPath(params.samplesheet, checkIfExists: true)
        .splitCsv(header: true, strip: true)
        .map { row ->
            def meta = [id: row.sample, single_end: !row.fastq_2]
            def reads = meta.single_end ? [file(row.fastq_1)] : [file(row.fastq_1), file(row.fastq_2)]
            tuple(meta, reads)
        }

    if (params.index) {
        ch_index = Channel.value(file(params.index, checkIfExists: true))
    } else {
        SALMON_INDEX(file(params.transcriptome, checkIfExists: true))
        ch_index = SALMON_INDEX.out.index
    }

    ch_gene_map = params.gene_map ? file(params.gene_map, checkIfExists: true) : []

    SALMON_QUANT(ch_reads, ch_index, ch_gene_map)

    QUANT_SUMMARY(
        SALMON_QUANT.out.results.map { meta, dir -> dir }.collect()
    )

    if (!params.skip_multiqc) {
        MULTIQC(
            SALMON_QUANT.out.results.map { meta, dir -> dir }.collect(),
            params.multiqc_config ? file(params.multiqc_config, checkIfExists: true) : []
        )
    }
}

workflow.onComplete {
    log.info "rnaseq-quant finished: ${workflow.success ? 'OK' : 'FAILED'} (${workflow.duration})"
}
