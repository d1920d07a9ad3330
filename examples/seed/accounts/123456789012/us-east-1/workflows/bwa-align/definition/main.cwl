#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
label: bwa-align
doc: |
  Align paired-end (or single-end) reads to a reference with BWA-MEM and
  produce a coordinate-sorted BAM with samtools sort.

requirements:
  StepInputExpressionRequirement: {}
  InlineJavascriptRequirement: {}

inputs:
  sample_id:
    type: string
    doc: Sample name; used for the read group and output file names
  reference:
    type: File
    doc: Reference FASTA, with BWA index files next to it
    secondaryFiles:
      - .amb
      - .ann
      - .bwt
      - .pac
      - .sa
  reads_1:
    type: File
    doc: FASTQ, read 1
  reads_2:
    type: File?
    doc: FASTQ, read 2 (omit for single-end)
  threads:
    type: int
    default: 16
    doc: Threads for bwa mem and samtools sort

outputs:
  sorted_bam:
    type: File
    outputSource: sort/sorted_bam

steps:
  align:
    run: tools/bwa-mem.cwl
    in:
      reference: reference
      reads_1: reads_1
      reads_2: reads_2
      threads: threads
      read_group:
        source: sample_id
        valueFrom: $("@RG\\tID:" + self + "\\tSM:" + self + "\\tPL:ILLUMINA")
      output_name:
        source: sample_id
        valueFrom: $(self + ".sam")
    out: [aligned_sam]

  sort:
    run: tools/samtools-sort.cwl
    in:
      input_alignments: align/aligned_sam
      threads: threads
      output_name:
        source: sample_id
        valueFrom: $(self + ".sorted.bam")
    out: [sorted_bam]
