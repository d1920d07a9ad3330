version 1.1

task fastqc {
  input {
    File fastq
    Int threads = 4
    File? adapters
    File? contaminants
    String docker = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastqc:0.12.1"
  }

  command <<<
    set -euo pipefail
    mkdir -p out
    fastqc --threads ~{threads} --outdir out --extract --quiet \
      ~{"--adapters " + adapters} \
      ~{"--contaminants " + contaminants} \
      "~{fastq}"
  >>>

  output {
    File html = glob("out/*_fastqc.html")[0]
    File zip = glob("out/*_fastqc.zip")[0]
  }

  runtime {
    docker: docker
    cpu: threads
    memory: "8 GiB"
  }
}

task multiqc {
  input {
    Array[File] reports
    String run_name
    File? config
    String docker = "123456789012.dkr.ecr.us-east-1.amazonaws.com/multiqc:1.25.1"
  }

  command <<<
    set -euo pipefail
    mkdir -p reports
    for f in ~{sep=" " reports}; do
      ln -s "$f" reports/
    done
    multiqc --title "~{run_name}" \
      --filename "~{run_name}_multiqc.html" \
      ~{"--config " + config} \
      --zip-data-dir \
      --outdir . \
      reports
  >>>

  output {
    File report = "~{run_name}_multiqc.html"
    File data = "~{run_name}_multiqc_data.zip"
  }

  runtime {
    docker: docker
    cpu: 2
    memory: "4 GiB"
  }
}
