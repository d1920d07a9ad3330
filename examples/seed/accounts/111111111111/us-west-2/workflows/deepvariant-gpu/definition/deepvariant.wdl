version 1.1

# deepvariant-gpu: germline small-variant calling with DeepVariant on a GPU instance,
# followed by bcftools stats on the resulting VCF.

workflow DeepVariantGPU {
  input {
    String sample_id
    File bam
    File bam_index
    File reference
    File reference_index
    String model_type = "WGS"
    File? regions_bed
    Int num_shards = 16
    String accelerator_type = "nvidia-tesla-t4-a10g"
  }

  call run_deepvariant {
    input:
      sample_id = sample_id,
      bam = bam,
      bam_index = bam_index,
      reference = reference,
      reference_index = reference_index,
      model_type = model_type,
      regions_bed = regions_bed,
      num_shards = num_shards,
      accelerator_type = accelerator_type
  }

  call vcf_stats {
    input:
      vcf = run_deepvariant.vcf,
      vcf_index = run_deepvariant.vcf_index,
      reference = reference
  }

  output {
    File vcf = run_deepvariant.vcf
    File vcf_index = run_deepvariant.vcf_index
    File gvcf = run_deepvariant.gvcf
    File gvcf_index = run_deepvariant.gvcf_index
    File visual_report = run_deepvariant.visual_report
    File stats = vcf_stats.stats
  }

  meta {
    author: "Clinical Genomics team"
  }
}

task run_deepvariant {
  input {
    String sample_id
    File bam
    File bam_index
    File reference
    File reference_index
    String model_type
    File? regions_bed
    Int num_shards
    String accelerator_type
  }

  command <<<
    set -euo pipefail
    # DeepVariant expects the indexes next to their files
    ln -s "~{bam}" input.bam
    ln -s "~{bam_index}" input.bam.bai
    ln -s "~{reference}" ref.fa
    ln -s "~{reference_index}" ref.fa.fai

    nvidia-smi

    /opt/deepvariant/bin/run_deepvariant \
      --model_type=~{model_type} \
      --ref=ref.fa \
      --reads=input.bam \
      ~{"--regions=" + regions_bed} \
      --sample_name=~{sample_id} \
      --output_vcf=~{sample_id}.vcf.gz \
      --output_gvcf=~{sample_id}.g.vcf.gz \
      --num_shards=~{num_shards} \
      --intermediate_results_dir=tmp
  >>>

  output {
    File vcf = "~{sample_id}.vcf.gz"
    File vcf_index = "~{sample_id}.vcf.gz.tbi"
    File gvcf = "~{sample_id}.g.vcf.gz"
    File gvcf_index = "~{sample_id}.g.vcf.gz.tbi"
    File visual_report = "~{sample_id}.visual_report.html"
  }

  runtime {
    docker: "111111111111.dkr.ecr.us-west-2.amazonaws.com/deepvariant:1.6.1-gpu"
    cpu: num_shards
    memory: "64 GiB"
    acceleratorType: accelerator_type
    acceleratorCount: 1
  }
}

task vcf_stats {
  input {
    File vcf
    File vcf_index
    File reference
  }

  String name = basename(vcf, ".vcf.gz")

  command <<<
    set -euo pipefail
    bcftools stats --fasta-ref "~{reference}" "~{vcf}" > "~{name}.bcftools_stats.txt"
  >>>

  output {
    File stats = "~{name}.bcftools_stats.txt"
  }

  runtime {
    docker: "111111111111.dkr.ecr.us-west-2.amazonaws.com/bcftools:1.20"
    cpu: 2
    memory: "4 GiB"
  }
}
