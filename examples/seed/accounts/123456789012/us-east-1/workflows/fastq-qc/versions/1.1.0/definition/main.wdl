version 1.0

# fastq-qc: per-file FastQC followed by a MultiQC roll-up for one sequencing run.
# 1.1.0: optional adapter / contaminant lists for FastQC, optional MultiQC config.

import "tasks/qc.wdl" as qc

workflow FastqQC {
  input {
    Array[File] fastqs
    String run_name
    Int fastqc_threads = 4
    File? adapters
    File? contaminants
    File? multiqc_config
  }

  scatter (fastq in fastqs) {
    call qc.fastqc {
      input:
        fastq = fastq,
        threads = fastqc_threads,
        adapters = adapters,
        contaminants = contaminants
    }
  }

  call qc.multiqc {
    input:
      reports = fastqc.zip,
      run_name = run_name,
      config = multiqc_config
  }

  output {
    Array[File] fastqc_html = fastqc.html
    Array[File] fastqc_zip = fastqc.zip
    File multiqc_report = multiqc.report
    File multiqc_data = multiqc.data
  }

  meta {
    author: "Genomics Platform team"
    description: "FastQC + MultiQC over an array of FASTQ files"
  }
}
