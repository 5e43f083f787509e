"""The README's main job.

Until the cross-corpus protocol runner lands this runs the alignment demo.
"""

from experiments import demo_align

if __name__ == "__main__":
    demo_align.main()
