#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: samtools index
doc: Build a .bai index; the BAM is returned with the index as a secondary file.

requirements:
  DockerRequirement:
    dockerPull: 123456789012.dkr.ecr.us-east-1.amazonaws.com/samtools:1.20
  InitialWorkDirRequirement:
    listing:
      - $(inputs.bam)
  ResourceRequirement:
    coresMin: 2
    ramMin: 4096

baseCommand: [samtools, index]
arguments:
  - -b
  - $(inputs.bam.basename)

inputs:
  bam:
    type: File

outputs:
  indexed_bam:
    type: File
    secondaryFiles: [.bai]
    outputBinding:
      glob: $(inputs.bam.basename)
