#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: samtools sort
doc: Coordinate-sort a SAM/BAM into BAM.

requirements:
  DockerRequirement:
    dockerPull: 123456789012.dkr.ecr.us-east-1.amazonaws.com/samtools:1.19.2
  ResourceRequirement:
    coresMin: $(inputs.threads)
    ramMin: 16384

baseCommand: [samtools, sort]
arguments:
  - prefix: -m
    valueFrom: 768M
  - prefix: -O
    valueFrom: BAM

inputs:
  input_alignments:
    type: File
    inputBinding:
      position: 10
  threads:
    type: int
    default: 8
    inputBinding:
      prefix: -@
  output_name:
    type: string
    default: sorted.bam
    inputBinding:
      prefix: -o

outputs:
  sorted_bam:
    type: File
    outputBinding:
      glob: $(inputs.output_name)
