def judge_image(img):
    raise NotImplementedError
