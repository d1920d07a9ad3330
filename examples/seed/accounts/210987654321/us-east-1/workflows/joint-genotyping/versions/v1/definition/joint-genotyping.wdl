version 1.0

# joint-genotyping: GATK GenomicsDBImport + GenotypeGVCFs over a cohort of gVCFs,
# scattered by interval, gathered into one cohort VCF.
# Maintained by the Population Genetics team (account 210987654321) and shared
# with partner accounts.

workflow JointGenotyping {
  input {
    String cohort_name
    Array[File] gvcfs
    Array[File] gvcf_indexes
    Array[String] intervals
    File reference
    File reference_index
    File reference_dict
    File? dbsnp_vcf
    File? dbsnp_vcf_index
    Int batch_size = 50
  }

  scatter (interval in intervals) {
    call genomicsdb_import {
      input:
        gvcfs = gvcfs,
        gvcf_indexes = gvcf_indexes,
        interval = interval,
        batch_size = batch_size
    }

    call genotype_gvcfs {
      input:
        workspace_tar = genomicsdb_import.workspace_tar,
        interval = interval,
        cohort_name = cohort_name,
        reference = reference,
        reference_index = reference_index,
        reference_dict = reference_dict,
        dbsnp_vcf = dbsnp_vcf,
        dbsnp_vcf_index = dbsnp_vcf_index
    }
  }

  call gather_vcfs {
    input:
      vcfs = genotype_gvcfs.vcf,
      cohort_name = cohort_name
  }

  output {
    File cohort_vcf = gather_vcfs.vcf
    File cohort_vcf_index = gather_vcfs.vcf_index
  }
}

task genomicsdb_import {
  input {
    Array[File] gvcfs
    Array[File] gvcf_indexes
    String interval
    Int batch_size
  }

  command <<<
    set -euo pipefail
    gatk --java-options "-Xms8g -Xmx28g" GenomicsDBImport \
      --genomicsdb-workspace-path genomicsdb \
      ~{sep=" " prefix("-V ", gvcfs)} \
      --batch-size ~{batch_size} \
      --intervals "~{interval}" \
      --reader-threads 4 \
      --merge-input-intervals \
      --consolidate

    tar -cf genomicsdb.tar genomicsdb
  >>>

  output {
    File workspace_tar = "genomicsdb.tar"
  }

  runtime {
    docker: "210987654321.dkr.ecr.us-east-1.amazonaws.com/gatk:4.5.0.0"
    cpu: 4
    memory: "32 GiB"
  }
}

task genotype_gvcfs {
  input {
    File workspace_tar
    String interval
    String cohort_name
    File reference
    File reference_index
    File reference_dict
    File? dbsnp_vcf
    File? dbsnp_vcf_index
  }

  command <<<
    set -euo pipefail
    tar -xf "~{workspace_tar}"
    gatk --java-options "-Xms8g -Xmx14g" GenotypeGVCFs \
      -R "~{reference}" \
      -V gendb://genomicsdb \
      -L "~{interval}" \
      ~{"-D " + dbsnp_vcf} \
      -G StandardAnnotation -G AS_StandardAnnotation \
      --only-output-calls-starting-in-intervals \
      -O "~{cohort_name}.part.vcf.gz"
  >>>

  output {
    File vcf = "~{cohort_name}.part.vcf.gz"
    File vcf_index = "~{cohort_name}.part.vcf.gz.tbi"
  }

  runtime {
    docker: "210987654321.dkr.ecr.us-east-1.amazonaws.com/gatk:4.5.0.0"
    cpu: 2
    memory: "16 GiB"
  }
}

task gather_vcfs {
  input {
    Array[File] vcfs
    String cohort_name
  }

  command <<<
    set -euo pipefail
    gatk --java-options "-Xms4g -Xmx6g" GatherVcfsCloud \
      --ignore-safety-checks \
      --gather-type BLOCK \
      ~{sep=" " prefix("-I ", vcfs)} \
      -O "~{cohort_name}.vcf.gz"
    tabix -p vcf "~{cohort_name}.vcf.gz"
  >>>

  output {
    File vcf = "~{cohort_name}.vcf.gz"
    File vcf_index = "~{cohort_name}.vcf.gz.tbi"
  }

  runtime {
    docker: "210987654321.dkr.ecr.us-east-1.amazonaws.com/gatk:4.5.0.0"
    cpu: 2
    memory: "8 GiB"
  }
}
