version 1.1

# fastq-qc 2.0.0: paired-end aware. Each sample is trimmed with fastp, then the
# trimmed reads go through FastQC, and fastp + FastQC reports are rolled up by MultiQC.
# Breaking change from 1.x: input is `samples` (Array[Sample]) instead of `fastqs`.

import "tasks/qc.wdl" as qc
import "tasks/trim.wdl" as trim

struct Sample {
  String id
  File r1
  File? r2
}

workflow FastqQC {
  input {
    Array[Sample] samples
    String run_name
    Int fastqc_threads = 4
    Int fastp_threads = 8
    Boolean trim_reads = true
    Int min_length = 36
    File? adapters
    File? contaminants
    File? multiqc_config
  }

  scatter (s in samples) {
    if (trim_reads) {
      call trim.fastp {
        input:
          sample_id = s.id,
          r1 = s.r1,
          r2 = s.r2,
          min_length = min_length,
          threads = fastp_threads
      }
    }

    Array[File] raw_reads = select_all([s.r1, s.r2])
    Array[File] qc_reads = select_first([fastp.trimmed, raw_reads])

    scatter (fq in qc_reads) {
      call qc.fastqc {
        input:
          fastq = fq,
          threads = fastqc_threads,
          adapters = adapters,
          contaminants = contaminants
      }
    }
  }

  Array[File] fastqc_zips = flatten(fastqc.zip)
  Array[File] fastp_jsons = select_all(fastp.json)

  call qc.multiqc {
    input:
      reports = flatten([fastqc_zips, fastp_jsons]),
      run_name = run_name,
      config = multiqc_config
  }

  output {
    Array[Array[File]]? trimmed_reads = if trim_reads then select_all(fastp.trimmed) else None
    Array[File] fastp_reports = select_all(fastp.html)
    Array[File] fastqc_html = flatten(fastqc.html)
    Array[File] fastqc_zip = fastqc_zips
    File multiqc_report = multiqc.report
    File multiqc_data = multiqc.data
  }

  meta {
    author: "Genomics Platform team"
    description: "fastp trimming + FastQC + MultiQC over paired-end or single-end samples"
  }

  parameter_meta {
    samples: "Array of {id, r1, r2?} objects; r2 omitted for single-end"
    trim_reads: "Run fastp adapter/quality trimming before FastQC"
    min_length: "fastp --length_required"
  }
}
