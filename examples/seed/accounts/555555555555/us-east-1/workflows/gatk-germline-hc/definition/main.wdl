version 1.0

# Ready2Run-style germline small-variant calling: GATK HaplotypeCaller on an
# analysis-ready BAM/CRAM, producing a gVCF and a genotyped VCF.

workflow GermlineHaplotypeCaller {
  input {
    String sample_name
    File input_bam
    File input_bam_index
    File reference
    File reference_index
    File reference_dict
    File? intervals
  }

  call haplotype_caller {
    input:
      sample_name = sample_name,
      input_bam = input_bam,
      input_bam_index = input_bam_index,
      reference = reference,
      reference_index = reference_index,
      reference_dict = reference_dict,
      intervals = intervals
  }

  call genotype_gvcf {
    input:
      sample_name = sample_name,
      gvcf = haplotype_caller.gvcf,
      gvcf_index = haplotype_caller.gvcf_index,
      reference = reference,
      reference_index = reference_index,
      reference_dict = reference_dict,
      intervals = intervals
  }

  output {
    File gvcf = haplotype_caller.gvcf
    File gvcf_index = haplotype_caller.gvcf_index
    File vcf = genotype_gvcf.vcf
    File vcf_index = genotype_gvcf.vcf_index
  }
}

task haplotype_caller {
  input {
    String sample_name
    File input_bam
    File input_bam_index
    File reference
    File reference_index
    File reference_dict
    File? intervals
  }

  command <<<
    set -euo pipefail
    gatk --java-options "-Xms12g -Xmx28g" HaplotypeCaller \
      -R "~{reference}" \
      -I "~{input_bam}" \
      ~{"-L " + intervals} \
      -ERC GVCF \
      --native-pair-hmm-threads 8 \
      -O "~{sample_name}.g.vcf.gz"
  >>>

  output {
    File gvcf = "~{sample_name}.g.vcf.gz"
    File gvcf_index = "~{sample_name}.g.vcf.gz.tbi"
  }

  runtime {
    docker: "555555555555.dkr.ecr.us-east-1.amazonaws.com/omics-ready2run/gatk:4.5.0.0"
    cpu: 8
    memory: "32 GiB"
  }
}

task genotype_gvcf {
  input {
    String sample_name
    File gvcf
    File gvcf_index
    File reference
    File reference_index
    File reference_dict
    File? intervals
  }

  command <<<
    set -euo pipefail
    gatk --java-options "-Xms4g -Xmx12g" GenotypeGVCFs \
      -R "~{reference}" \
      -V "~{gvcf}" \
      ~{"-L " + intervals} \
      -O "~{sample_name}.vcf.gz"
  >>>

  output {
    File vcf = "~{sample_name}.vcf.gz"
    File vcf_index = "~{sample_name}.vcf.gz.tbi"
  }

  runtime {
    docker: "555555555555.dkr.ecr.us-east-1.amazonaws.com/omics-ready2run/gatk:4.5.0.0"
    cpu: 4
    memory: "16 GiB"
  }
}
