version 1.1

task fastp {
  input {
    String sample_id
    File r1
    File? r2
    Int min_length = 36
    Int threads = 8
    String docker = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fastp:0.23.4"
  }

  Boolean paired = defined(r2)

  command <<<
    set -euo pipefail
    if [ "~{paired}" = "true" ]; then
      fastp \
        --in1 "~{r1}" --in2 "~{r2}" \
        --out1 "~{sample_id}_R1.trimmed.fastq.gz" \
        --out2 "~{sample_id}_R2.trimmed.fastq.gz" \
        --detect_adapter_for_pe \
        --length_required ~{min_length} \
        --thread ~{threads} \
        --json "~{sample_id}.fastp.json" \
        --html "~{sample_id}.fastp.html"
    else
      fastp \
        --in1 "~{r1}" \
        --out1 "~{sample_id}_R1.trimmed.fastq.gz" \
        --length_required ~{min_length} \
        --thread ~{threads} \
        --json "~{sample_id}.fastp.json" \
        --html "~{sample_id}.fastp.html"
    fi
  >>>

  output {
    Array[File] trimmed = glob("~{sample_id}_R*.trimmed.fastq.gz")
    File json = "~{sample_id}.fastp.json"
    File html = "~{sample_id}.fastp.html"
  }

  runtime {
    docker: docker
    cpu: threads
    memory: "16 GiB"
  }
}
